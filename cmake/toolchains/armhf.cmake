# 32-bit ARM, hard float (ARMv7): Debian armhf. 32-bit size_t and pointers; glibc's
# time_t is 32-bit unless _TIME_BITS=64, which CMakeLists.txt sets for every
# 32-bit glibc target (docs/embedded.md, "Time past 2038").
#   cmake -S . -B build-cross-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/armhf.cmake -DEVPIPE_BUILD_SERVER=OFF
set(EVP_CROSS_TRIPLET arm-linux-gnueabihf)
set(EVP_CROSS_PROCESSOR arm)
set(EVP_CROSS_QEMU qemu-arm-static)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
