# `cmake --install` (and `make install`): GNU install directories, so
# CMAKE_INSTALL_PREFIX and DESTDIR work as everywhere. debian/rules installs
# with prefix /usr into debian/tmp and splits the result into packages.
#
#   bin/                     tessera-collector, tessera-agent, tessera
#   SYSCONFDIR/tessera/      collector.conf (a conffile in the package)
#   share/doc/tessera-agent/examples/agent.conf (init writes the real one)
#   share/man/man1/          the three man pages (help2man, from --help)
#   systemd unit dir         tessera-collector.service, tessera-agent.service
#   lib/sysusers.d, lib/tmpfiles.d   the system users and their directories
#
# The code lists stay embedded in the binaries (lib/codes_data.c).
include(GNUInstallDirs)

set(TESSERA_MANPAGES AUTO CACHE STRING "build man pages with help2man: AUTO, ON or OFF")
set_property(CACHE TESSERA_MANPAGES PROPERTY STRINGS AUTO ON OFF)

# systemd's own directories when installing to /usr (Debian 12: units in
# /lib/systemd/system), else under the prefix (systemd also reads
# /usr/local/lib/systemd/system).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  pkg_get_variable(TSR_SYSTEMD_UNITDIR systemd systemdsystemunitdir)
endif()
if(NOT TSR_SYSTEMD_UNITDIR)
  set(TSR_SYSTEMD_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(TESSERA_SYSTEMD_UNITDIR ${TSR_SYSTEMD_UNITDIR} CACHE PATH "where the systemd units go")
set(TSR_SYSUSERSDIR ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d)
set(TSR_TMPFILESDIR ${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d)

install(TARGETS tessera-collector tessera-agent tessera-cli
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(FILES ${TESSERA_SOURCE_DIR}/deploy/collector.conf
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/tessera)
install(FILES ${TESSERA_SOURCE_DIR}/deploy/agent.conf
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/tessera-agent/examples)

set(TSR_SYSTEMD_DIR ${TESSERA_SOURCE_DIR}/deploy/systemd)
foreach(unit tessera-collector tessera-agent)
  configure_file(${TSR_SYSTEMD_DIR}/${unit}.service.in ${CMAKE_BINARY_DIR}/systemd/${unit}.service
                 @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${unit}.service DESTINATION ${TESSERA_SYSTEMD_UNITDIR})
  install(FILES ${TSR_SYSTEMD_DIR}/${unit}.sysusers DESTINATION ${TSR_SYSUSERSDIR}
          RENAME ${unit}.conf)
  install(FILES ${TSR_SYSTEMD_DIR}/${unit}.tmpfiles DESTINATION ${TSR_TMPFILESDIR}
          RENAME ${unit}.conf)
endforeach()

# Timers and the one-shot services they start (backups, metrics): examples
# installed but not enabled (docs/DEPLOYING.md). Their sandboxing is one
# block, oneshot-hardening.inc, put in where @TSR_ONESHOT_HARDENING@ stands.
file(READ ${TSR_SYSTEMD_DIR}/oneshot-hardening.inc TSR_ONESHOT_HARDENING)
foreach(unit tessera-collector-backup tessera-agent-backup tessera-collector-metrics)
  configure_file(${TSR_SYSTEMD_DIR}/${unit}.service.in ${CMAKE_BINARY_DIR}/systemd/${unit}.service
                 @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${unit}.service ${TSR_SYSTEMD_DIR}/${unit}.timer
          DESTINATION ${TESSERA_SYSTEMD_UNITDIR})
endforeach()

# Man pages: help2man runs each built program's --help and --version
# (deploy/man/mkman.sh), so the page says what the program says.
if(NOT TESSERA_MANPAGES STREQUAL "OFF")
  find_program(HELP2MAN help2man)
  if(NOT HELP2MAN)
    if(TESSERA_MANPAGES STREQUAL "ON")
      message(FATAL_ERROR "help2man not found: install the Debian package 'help2man' "
                          "(or run deploy/install-deps.sh), or configure with "
                          "-DTESSERA_MANPAGES=OFF")
    endif()
    message(STATUS "help2man not found: no man pages (Debian package 'help2man')")
  else()
    set(TSR_MAN_DIR ${TESSERA_SOURCE_DIR}/deploy/man)
    set(pages)
    foreach(spec "tessera-collector|tessera-collector|Tessera regional collector: CURVE ingest into LMDB, alerts, audited queries"
                 "tessera-agent|tessera-agent|Tessera agency agent: minimise incident exports, tokenise identifiers, deliver them"
                 "tessera|tessera-cli|Tessera client for analysts, police liaison and admins")
      string(REPLACE "|" ";" parts "${spec}")
      list(GET parts 0 prog)
      list(GET parts 1 target)
      list(GET parts 2 what)
      set(page ${CMAKE_BINARY_DIR}/man/${prog}.1)
      add_custom_command(
        OUTPUT ${page}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
        COMMAND bash ${TSR_MAN_DIR}/mkman.sh $<TARGET_FILE:${target}>
                "${what}" ${TSR_MAN_DIR}/${prog}.h2m ${page}
        DEPENDS ${TSR_MAN_DIR}/mkman.sh ${TSR_MAN_DIR}/${prog}.h2m
                $<TARGET_FILE:${target}>
        COMMENT "man page ${prog}(1) from --help (help2man)"
        VERBATIM)
      list(APPEND pages ${page})
    endforeach()
    add_custom_target(man ALL DEPENDS ${pages})
    install(FILES ${pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  endif()
endif()
