# Every external library is found through pkg-config. A missing one stops the
# configure step with the Debian package that provides it, so the fix is one
# command away.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: install the Debian package 'pkg-config' "
                      "(or run deploy/install-deps.sh, which installs everything)")
endif()

# tsr_require(<prefix> <pkg-config module> <debian package>)
# Defines the imported target PkgConfig::<prefix>.
function(tsr_require prefix module debpkg)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${prefix}_FOUND)
    message(FATAL_ERROR "Missing library '${module}': install the Debian package "
                        "'${debpkg}' (or run deploy/install-deps.sh, which installs "
                        "every dependency)")
  endif()
endfunction()

tsr_require(ZMQ libzmq libzmq3-dev)
tsr_require(PROTOBUFC libprotobuf-c libprotobuf-c-dev)
# 3.0.3: EVP_MAC_init with no key restarts a MAC under the same key
# (openssl#18100), which lib/token.c (HMAC) and collector/linkage_sum.c
# (SipHash) rely on; Debian 12 has 3.0.x with the fix
tsr_require(OPENSSL "libcrypto>=3.0.3" libssl-dev)
tsr_require(LMDB lmdb liblmdb-dev)
tsr_require(CMOCKA cmocka libcmocka-dev)
tsr_require(JANSSON jansson libjansson-dev)
tsr_require(UTF8PROC libutf8proc libutf8proc-dev)
tsr_require(INIH inih libinih-dev)
tsr_require(GSL gsl libgsl-dev)
tsr_require(SYSTEMD libsystemd libsystemd-dev) # sd_notify for the collector's Type=notify unit

# tsr_require_plain(<target> <header> <library> <debian package>): a library
# that ships no pkg-config file, as the INTERFACE target <target>.
function(tsr_require_plain target header library debpkg)
  find_path(${target}_INCLUDE_DIR ${header})
  find_library(${target}_LIBRARY ${library})
  if(NOT ${target}_INCLUDE_DIR OR NOT ${target}_LIBRARY)
    message(FATAL_ERROR "Missing library '${library}': install the Debian package '${debpkg}' "
                        "(or run deploy/install-deps.sh, which installs every dependency)")
  endif()
  add_library(${target} INTERFACE)
  target_include_directories(${target} INTERFACE ${${target}_INCLUDE_DIR})
  target_link_libraries(${target} INTERFACE ${${target}_LIBRARY})
endfunction()

tsr_require_plain(tsr_libcsv csv.h csv libcsv-dev)

find_program(PROTOC_C protoc-c)
if(NOT PROTOC_C)
  message(FATAL_ERROR "protoc-c not found: install the Debian package 'protobuf-c-compiler' "
                      "(or run deploy/install-deps.sh)")
endif()
find_package(Threads REQUIRED)

