# Install rules and the Debian package (CPack, DEB generator):
#   cmake --build build --target package   →  build/rampart_<version>_<arch>.deb
# What goes where:
#   /usr/sbin/rampartd, /usr/bin/rampartctl (when the target exists)
#   /lib/systemd/system/rampart.service      packaging/systemd/rampart.service
#   /etc/rampart/rampart.yaml                the default config, a conffile
#   /etc/rampart/policies/                   empty: no policy is active until one is put there
#   /usr/share/doc/rampart/examples/policies config/policies/*.yaml
#   /var/lib/rampart                         state directory
# System paths (/etc, /lib, /var) are absolute: they do not follow the prefix.
include(GNUInstallDirs)

install(TARGETS rampartd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR} COMPONENT rampart)
if(TARGET rampartctl)
  install(TARGETS rampartctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT rampart)
endif()
install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/rampart.service DESTINATION /lib/systemd/system COMPONENT rampart)
install(FILES ${CMAKE_SOURCE_DIR}/config/rampart.yaml DESTINATION /etc/rampart
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ COMPONENT rampart)
install(DIRECTORY DESTINATION /etc/rampart/policies COMPONENT rampart)
install(DIRECTORY DESTINATION /var/lib/rampart COMPONENT rampart)
file(GLOB RAMPART_EXAMPLE_POLICIES ${CMAKE_SOURCE_DIR}/config/policies/*.yaml)
install(FILES ${RAMPART_EXAMPLE_POLICIES} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/policies COMPONENT rampart)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT rampart)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs COMPONENT rampart)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME rampart)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Rampart developers <dev@rampart.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "eBPF runtime-protection daemon")
set(CPACK_PACKAGE_DESCRIPTION "rampartd watches exec, file, network and privilege events with eBPF,\nscores them under zero-trust policies and denies in the kernel.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Runtime library dependencies from the binaries, through dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/deb/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/deb/postinst
    ${CMAKE_SOURCE_DIR}/packaging/deb/prerm
    ${CMAKE_SOURCE_DIR}/packaging/deb/postrm)
include(CPack)
