/* agent/avahi_load.c — the two Avahi libraries, each loaded on its own
 * (agent/avahi_load.h).
 */
#include "agent/avahi_load.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "agent/log.h"

#define AVAHI_LOAD_CLIENT_LIB "libavahi-client.so.3"
#define AVAHI_LOAD_CORE_LIB "libavahi-core.so.7"
#define AVAHI_LOAD_CLASH_SYM "avahi_entry_group_free"

/* Process-wide, loop thread only: a library is loaded once. */
static struct avahi_load_client_fns dcl;
static int dcl_state; /* 0 not tried, 1 loaded, -1 unusable */
static struct avahi_load_core_fns dco;
static int dco_state;

/* Which library, if any, put the clashing symbol into the global scope. */
static const char *avahi_load_clash_owner(void)
{
    Dl_info info;
    void *sym = dlsym(RTLD_DEFAULT, AVAHI_LOAD_CLASH_SYM);
    if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL)
        return NULL;
    return info.dli_fname;
}

static void *avahi_load_dlopen(const char *lib, const char *other)
{
    const char *owner = avahi_load_clash_owner();
    if (owner != NULL && strstr(owner, other) != NULL) {
        log_warn("discovery: %s is linked into this program; %s cannot be used with it", owner,
                 lib);
        return NULL;
    }
    void *dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL)
        log_info("discovery: %s", dlerror());
    return dl;
}

#define AVAHI_LOAD_SYM(f)                                                                          \
    if (ok && (lib->f = (__typeof__(lib->f))dlsym(dl, #f)) == NULL) {                              \
        log_warn("discovery: %s lacks %s", name, #f);                                              \
        ok = false;                                                                                \
    }

const struct avahi_load_client_fns *avahi_load_client(void)
{
    struct avahi_load_client_fns *lib = &dcl;
    const char *name = AVAHI_LOAD_CLIENT_LIB;
    if (dcl_state == 0) {
        void *dl = avahi_load_dlopen(name, "avahi-core");
        bool ok = dl != NULL;
        AVAHI_LOAD_CLIENT_SYMS(AVAHI_LOAD_SYM)
        dcl_state = ok ? 1 : -1;
    }
    return dcl_state > 0 ? lib : NULL;
}

/* avahi-core logs through avahi_log_*: route it into agent/log.h. */
static void avahi_load_core_log(AvahiLogLevel level, const char *txt)
{
    if (level <= AVAHI_LOG_ERROR)
        log_warn("avahi-core: %s", txt);
    else
        log_debug("avahi-core: %s", txt);
}

const struct avahi_load_core_fns *avahi_load_core(void)
{
    struct avahi_load_core_fns *lib = &dco;
    const char *name = AVAHI_LOAD_CORE_LIB;
    if (dco_state == 0) {
        void *dl = avahi_load_dlopen(name, "avahi-client");
        bool ok = dl != NULL;
        AVAHI_LOAD_CORE_SYMS(AVAHI_LOAD_SYM)
        dco_state = ok ? 1 : -1;
        if (ok)
            lib->avahi_set_log_function(avahi_load_core_log);
    }
    return dco_state > 0 ? lib : NULL;
}
