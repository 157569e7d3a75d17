# protobuf-c output lives only in the build tree (STYLE rule 5). Only
# lib/wire_int.h (the wire module's lib/wire*.c) includes the generated header.
set(TSR_PROTO_SRC ${TESSERA_SOURCE_DIR}/proto/tessera.proto)
set(TSR_PROTO_OUT ${CMAKE_CURRENT_BINARY_DIR}/proto)
file(MAKE_DIRECTORY ${TSR_PROTO_OUT})
add_custom_command(
  OUTPUT ${TSR_PROTO_OUT}/tessera.pb-c.c ${TSR_PROTO_OUT}/tessera.pb-c.h
  COMMAND ${PROTOC_C} --proto_path=${TESSERA_SOURCE_DIR}/proto
          --c_out=${TSR_PROTO_OUT} ${TSR_PROTO_SRC}
  DEPENDS ${TSR_PROTO_SRC}
  COMMENT "protoc-c tessera.proto")
