/* agent/avahi_load.h — libavahi-client and libavahi-core, loaded at run time
 * (dlopen) and called through function tables; used by agent/discovery.c.
 *
 * What is loaded, from where: avahi_load_client() opens "libavahi-client.so.3",
 * avahi_load_core() opens "libavahi-core.so.7", each by its soname (so from
 * the dynamic linker's search path: LD_LIBRARY_PATH, ld.so.cache, the system
 * directories) with RTLD_NOW | RTLD_LOCAL, and fills its table with dlsym.
 * avahi-common is linked normally. avahi_load_core() also routes avahi-core's
 * log (avahi_set_log_function) into agent/log.h, for the life of the process.
 *
 * When a library is absent or unusable (not found, a symbol missing, or the
 * other library is linked into this program): the call logs why once and
 * returns NULL, and so does every later call; the caller's backend is simply
 * not available. Nothing is retried.
 *
 * Ownership and lifetime: the tables are static, owned by this module; the
 * caller neither frees nor writes them. A library is loaded on the first call
 * and never unloaded, so a returned table (and every function in it) stays
 * valid for the life of the process. Nothing runs asynchronously: no
 * callbacks, nothing pending, nothing to do at shutdown.
 *
 * Threads: not thread-safe; call from the loop thread only.
 */
#ifndef CRATECAST_AGENT_AVAHI_LOAD_H
#define CRATECAST_AGENT_AVAHI_LOAD_H

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-core/core.h>
#include <avahi-core/log.h>
#include <avahi-core/lookup.h>
#include <avahi-core/publish.h>

/* libavahi-client and libavahi-core both export `avahi_entry_group_free`
 * (the client's public one; an internal one in core with another signature),
 * and each calls its own through the PLT. Linked into one executable, one of
 * them gets the other's function: avahi_server_free crashes inside libdbus.
 * So neither is linked: each is dlopen'ed RTLD_LOCAL on first use, where its
 * lookups see the executable's global scope and then only its own tree, and
 * is called through the tables below (filled with dlsym, types checked
 * against the headers). They stay loaded for the life of the process. If
 * the executable was linked against one of them anyway, the symbol is
 * global, and the other backend is refused instead of crashing. */

/* (symbol tables, kept as written: the formatter re-indents them on every pass) */
/* clang-format off */
#define AVAHI_LOAD_CLIENT_SYMS(X)                                                             \
    X(avahi_client_new) X(avahi_client_free) X(avahi_client_errno)                             \
    X(avahi_client_get_version_string) X(avahi_entry_group_new) X(avahi_entry_group_free)      \
    X(avahi_entry_group_reset) X(avahi_entry_group_commit)                                     \
    X(avahi_entry_group_add_service_strlst) X(avahi_entry_group_update_service_txt_strlst)     \
    X(avahi_service_browser_new) X(avahi_service_browser_free) X(avahi_service_resolver_new)   \
    X(avahi_service_resolver_free)
#define AVAHI_LOAD_CORE_SYMS(X)                                                               \
    X(avahi_server_new) X(avahi_server_free) X(avahi_server_errno)                             \
    X(avahi_server_config_init) X(avahi_server_config_free) X(avahi_server_get_host_name)      \
    X(avahi_server_get_host_name_fqdn) X(avahi_server_set_host_name)                           \
    X(avahi_s_entry_group_new) X(avahi_s_entry_group_free) X(avahi_s_entry_group_reset)        \
    X(avahi_s_entry_group_commit) X(avahi_server_add_service_strlst)                           \
    X(avahi_server_update_service_txt_strlst) X(avahi_s_service_browser_new)                   \
    X(avahi_s_service_browser_free) X(avahi_s_service_resolver_new)                            \
    X(avahi_s_service_resolver_free) X(avahi_set_log_function)
/* clang-format on */
#define AVAHI_LOAD_FIELD(f) __typeof__(f) *f;

/* One pointer per symbol, named and typed like the library's function. */
struct avahi_load_client_fns {
    AVAHI_LOAD_CLIENT_SYMS(AVAHI_LOAD_FIELD)
};
struct avahi_load_core_fns {
    AVAHI_LOAD_CORE_SYMS(AVAHI_LOAD_FIELD)
};

/* The loaded library's table (every pointer set), or NULL when it cannot be
 * used. Loads on the first call; later calls return the same answer. */
const struct avahi_load_client_fns *avahi_load_client(void);
const struct avahi_load_core_fns *avahi_load_core(void);

#endif
