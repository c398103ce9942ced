# Shared part of the Debian cross toolchain files (cmake/toolchains/<arch>.cmake).
# The including file sets EVP_CROSS_TRIPLET (aarch64-linux-gnu...), EVP_CROSS_PROCESSOR
# (CMAKE_SYSTEM_PROCESSOR) and EVP_CROSS_QEMU (qemu-aarch64-static...).
#
# Compilers: Debian's crossbuild-essential-<arch> (<triplet>-gcc). Libraries: the
# :<arch> -dev packages installed through multiarch (dpkg --add-architecture), so
# headers are in /usr/include[/<triplet>] and libraries in /usr/lib/<triplet>:
# the sysroot is "/" and CMAKE_LIBRARY_ARCHITECTURE keeps find_library() off the
# host's /usr/lib/x86_64-linux-gnu. Or, with EVP_CROSS_SYSROOT, the same packages
# unpacked into a directory (what scripts/cross-test does, docs/embedded.md).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${EVP_CROSS_PROCESSOR})
set(CMAKE_LIBRARY_ARCHITECTURE ${EVP_CROSS_TRIPLET})

set(CMAKE_C_COMPILER ${EVP_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${EVP_CROSS_TRIPLET}-g++)
set(CMAKE_AR ${EVP_CROSS_TRIPLET}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${EVP_CROSS_TRIPLET}-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${EVP_CROSS_TRIPLET}-strip CACHE FILEPATH "")

# EVP_CROSS_SYSROOT: instead of multiarch, a directory holding the target's
# packages unpacked (dpkg-deb -x) in Debian's multiarch layout. scripts/cross-test
# makes one: installed multiarch, Multi-Arch: same packages must have the host's
# version (apt upgrades host libraries to match), and s390x ones never match an
# updated host (Debian 12's security archive no longer builds s390x).
# Empty: multiarch, sysroot "/".
set(EVP_CROSS_SYSROOT "" CACHE PATH "Target root of unpacked packages (empty: multiarch in /)")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EVP_CROSS_SYSROOT)
if(EVP_CROSS_SYSROOT)
  set(_evp_root ${EVP_CROSS_SYSROOT})
  # Debian's cross gcc looks in <sysroot>/usr/include/<triplet> and
  # <sysroot>/usr/lib/<triplet> by itself.
  set(CMAKE_SYSROOT ${EVP_CROSS_SYSROOT})
  set(CMAKE_FIND_ROOT_PATH ${EVP_CROSS_SYSROOT})
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} ${EVP_CROSS_SYSROOT})
else()
  set(_evp_root /)
endif()

# pkg-config must see the target's .pc files only (and the arch-independent
# ones), never the host's /usr/lib/x86_64-linux-gnu/pkgconfig.
set(ENV{PKG_CONFIG_LIBDIR}
    "${_evp_root}/usr/lib/${EVP_CROSS_TRIPLET}/pkgconfig:${_evp_root}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Programs, headers and libraries: host programs, target headers/libraries.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# ctest (and add_custom_command on a built executable) runs target programs
# through qemu-user. "-L /": the multiarch root, where libc6:<arch> put the
# dynamic loader (/lib/ld-linux-*.so.*) and every :<arch> library lives (or
# the unpacked sysroot). Programs the tests start themselves reach qemu through
# binfmt_misc, which reads the root from QEMU_LD_PREFIX (scripts/cross-test).
set(CMAKE_CROSSCOMPILING_EMULATOR ${EVP_CROSS_QEMU} -L ${_evp_root})
