# Debian package of the UPF plugin: `cpack --config build/CPackConfig.cmake -G DEB` writes
# upf-plugin_<UPF_PLUGIN_VERSION>_<arch>.deb. It holds the install() rules of the upf-plugin
# component: add_vpp_plugin() installs the plugin in VPP's plugin directory
# (lib/<multiarch>/vpp_plugins/upf_plugin.so) and its API JSON where vpp_papi looks
# (share/vpp/api/plugins/upf.api.json); the C API headers (upf-plugin-dev) stay out.
# The package depends on exactly the vpp package it was built against: UPF_VPP_DEB_VERSION,
# or else the version of the vpp package installed where it is configured.
set(UPF_PLUGIN_VERSION "0.1.0" CACHE STRING "Version of the upf-plugin package")
set(UPF_VPP_DEB_VERSION "" CACHE STRING
  "Exact version of the vpp package the plugin is built against (empty: the installed one)")

set(_upf_vpp_deb_version "${UPF_VPP_DEB_VERSION}")
if(NOT _upf_vpp_deb_version)
  execute_process(
    COMMAND dpkg-query -W "-f=\${Version}" vpp
    OUTPUT_VARIABLE _upf_vpp_deb_version
    OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET
    RESULT_VARIABLE _upf_dpkg_rc)
  if(NOT _upf_dpkg_rc EQUAL 0)
    set(_upf_vpp_deb_version "")
  endif()
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME upf-plugin)
set(CPACK_PACKAGE_VERSION "${UPF_PLUGIN_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "5G user plane function (UPF) plugin for VPP")
set(CPACK_PACKAGE_CONTACT "UPF appliance developers")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL upf-plugin)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
if(_upf_vpp_deb_version)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "vpp (= ${_upf_vpp_deb_version})")
  message(STATUS "upf-plugin package: depends on vpp (= ${_upf_vpp_deb_version})")
else()
  message(STATUS "upf-plugin package: no vpp package installed, no vpp dependency recorded")
endif()
include(CPack)
