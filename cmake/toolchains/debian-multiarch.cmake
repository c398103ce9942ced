# Shared part of the Debian cross toolchain files (cmake/toolchains/<arch>.cmake).
# The including file sets EVP_CROSS_TRIPLET (aarch64-linux-gnu...), EVP_CROSS_PROCESSOR
# (CMAKE_SYSTEM_PROCESSOR) and EVP_CROSS_QEMU (qemu-aarch64-static...).
#
# Compilers: Debian's crossbuild-essential-<arch> (<triplet>-gcc). Libraries: the
# :<arch> -dev packages installed through multiarch (dpkg --add-architecture), so
# headers are in /usr/include[/<triplet>] and libraries in /usr/lib/<triplet>:
# the sysroot is "/" and CMAKE_LIBRARY_ARCHITECTURE keeps find_library() off the
# host's /usr/lib/x86_64-linux-gnu. scripts/cross-test installs all of it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${EVP_CROSS_PROCESSOR})
set(CMAKE_LIBRARY_ARCHITECTURE ${EVP_CROSS_TRIPLET})

set(CMAKE_C_COMPILER ${EVP_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${EVP_CROSS_TRIPLET}-g++)
set(CMAKE_AR ${EVP_CROSS_TRIPLET}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${EVP_CROSS_TRIPLET}-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${EVP_CROSS_TRIPLET}-strip CACHE FILEPATH "")

# pkg-config must see the target's .pc files only (and the arch-independent
# ones), never the host's /usr/lib/x86_64-linux-gnu/pkgconfig.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${EVP_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Programs, headers and libraries: host programs, target headers/libraries.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# ctest (and add_custom_command on a built executable) runs target programs
# through qemu-user. "-L /": the multiarch root, where libc6:<arch> put the
# dynamic loader (/lib/ld-linux-*.so.*) and every :<arch> library lives.
set(CMAKE_CROSSCOMPILING_EMULATOR ${EVP_CROSS_QEMU} -L /)
