/* tests/tools/plugin_loader_probe.c - loads spank_vm.so the way Slurm's processes do (dlopen),
 * in a process that exports slurm_api_version() as libslurm does, returning the version given
 * on the command line. tests/tools/check_plugin_series.sh uses it to see the plugin's own
 * release-series check (src/spank/series_check.cpp) speak, or stay silent, at load time.
 *
 *   plugin_loader_probe PLUGIN VERSION_NUMBER   (e.g. 0x170200 for Slurm 23.02.0)
 *
 * Exit 0 when dlopen() succeeded.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static long probe_version;

/* The functions the plugin imports from Slurm's processes (tests/tools/check_plugin_symbols.sh
 * keeps that list to spank_* and slurm_*). It is linked with -z now (full RELRO), so each must
 * exist when it is loaded; none is called here, so none needs its real signature. */
#define SLURM_FUNCTION(name) void name(void); void name(void) {}
SLURM_FUNCTION(slurm_debug)
SLURM_FUNCTION(slurm_error)
SLURM_FUNCTION(slurm_info)
SLURM_FUNCTION(slurm_spank_log)
SLURM_FUNCTION(spank_context)
SLURM_FUNCTION(spank_getenv)
SLURM_FUNCTION(spank_job_control_setenv)
SLURM_FUNCTION(spank_option_register)
SLURM_FUNCTION(spank_setenv)
SLURM_FUNCTION(spank_strerror)
SLURM_FUNCTION(spank_unsetenv)

long slurm_api_version(void);
long slurm_api_version(void) { return probe_version; }

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: plugin_loader_probe PLUGIN VERSION_NUMBER\n");
    return 2;
  }
  probe_version = strtol(argv[2], NULL, 0);
  void* handle = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
  if (handle == NULL) {
    fprintf(stderr, "plugin_loader_probe: %s\n", dlerror());
    return 1;
  }
  dlclose(handle);
  return 0;
}
