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
tsr_require(OPENSSL libcrypto libssl-dev)
tsr_require(LMDB lmdb liblmdb-dev)
tsr_require(CMOCKA cmocka libcmocka-dev)
tsr_require(JANSSON jansson libjansson-dev)
tsr_require(UTF8PROC libutf8proc libutf8proc-dev)
tsr_require(INIH inih libinih-dev)
tsr_require(GSL gsl libgsl-dev)

# libcsv ships no pkg-config file.
find_path(CSV_INCLUDE_DIR csv.h)
find_library(CSV_LIBRARY csv)
if(NOT CSV_INCLUDE_DIR OR NOT CSV_LIBRARY)
  message(FATAL_ERROR "Missing library 'libcsv': install the Debian package 'libcsv-dev' "
                      "(or run deploy/install-deps.sh)")
endif()
add_library(tsr_libcsv INTERFACE)
target_include_directories(tsr_libcsv INTERFACE ${CSV_INCLUDE_DIR})
target_link_libraries(tsr_libcsv INTERFACE ${CSV_LIBRARY})

find_program(PROTOC_C protoc-c)
if(NOT PROTOC_C)
  message(FATAL_ERROR "protoc-c not found: install the Debian package 'protobuf-c-compiler' "
                      "(or run deploy/install-deps.sh)")
endif()
find_package(Threads REQUIRED)

# GLPK ships no pkg-config file either.
find_path(GLPK_INCLUDE_DIR glpk.h)
find_library(GLPK_LIBRARY glpk)
if(NOT GLPK_INCLUDE_DIR OR NOT GLPK_LIBRARY)
  message(FATAL_ERROR "Missing library 'glpk': install the Debian package 'libglpk-dev' "
                      "(or run deploy/install-deps.sh, which installs every dependency)")
endif()
add_library(tsr_libglpk INTERFACE)
target_include_directories(tsr_libglpk INTERFACE ${GLPK_INCLUDE_DIR})
target_link_libraries(tsr_libglpk INTERFACE ${GLPK_LIBRARY})
