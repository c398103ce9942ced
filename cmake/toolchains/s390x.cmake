# IBM Z: Debian s390x, 64-bit and big-endian: the target that checks byte-order
# assumptions (CRC32C, base64url, UUIDs, the SIMD fallbacks).
#   cmake -S . -B build-cross-s390x -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/s390x.cmake -DEVPIPE_BUILD_SERVER=OFF
set(EVP_CROSS_TRIPLET s390x-linux-gnu)
set(EVP_CROSS_PROCESSOR s390x)
set(EVP_CROSS_QEMU qemu-s390x-static)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
