# 64-bit ARM (phones, Graviton, Raspberry Pi 4/5): Debian arm64, little-endian.
#   cmake -S . -B build-cross-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/arm64.cmake -DEVPIPE_BUILD_SERVER=OFF
# Needs crossbuild-essential-arm64, qemu-user-static and the :arm64 -dev packages,
# multiarch or unpacked into -DEVP_CROSS_SYSROOT=DIR (scripts/cross-test arm64; docs/embedded.md).
set(EVP_CROSS_TRIPLET aarch64-linux-gnu)
set(EVP_CROSS_PROCESSOR aarch64)
set(EVP_CROSS_QEMU qemu-aarch64-static)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
