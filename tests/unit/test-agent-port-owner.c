/* tests/unit/test-agent-port-owner.c — finding the socket that listens on a
 * port in /proc/net/tcp and tcp6 text (agent/port_owner.h): LISTEN only, the
 * port in hex, IPv6 addresses, the header and damaged lines skipped; and the
 * live lookup of a socket this test itself listens on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "agent/port_owner.h"

static const char tcp[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 0100007F:1EC6 0100007F:947F 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "111 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0100007F:1EC6 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 "
    "222 1 0000000000000000 100 0 0 10 0\n"
    "   2: 00000000:1EC7 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "333 1 0000000000000000 100 0 0 10 0\n"
    "   3: garbage\n"
    "   4: 00000000:ZZZZ 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "444 1\n";

static const char tcp6[] =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000   500        0 555 1 0000000000000000 100 0 0 10 0";

static void test_scan(void **state)
{
    (void)state;
    unsigned long inode = 0;
    unsigned uid = 0;
    assert_int_equal(agent_port_owner_scan(tcp, strlen(tcp), 7878, &inode, &uid), 0);
    assert_int_equal(inode, 222); /* not 111: that one is an established connection */
    assert_int_equal(uid, 1000);
    assert_int_equal(agent_port_owner_scan(tcp, strlen(tcp), 7879, &inode, &uid), 0);
    assert_int_equal(inode, 333);
    assert_int_equal(uid, 0);
    assert_int_equal(agent_port_owner_scan(tcp, strlen(tcp), 80, &inode, &uid), -ENOENT);
    assert_int_equal(agent_port_owner_scan(tcp6, strlen(tcp6), 8080, &inode, &uid), 0);
    assert_int_equal(inode, 555); /* the last line without '\n' */
    assert_int_equal(uid, 500);
    assert_int_equal(agent_port_owner_scan("", 0, 7878, &inode, &uid), -ENOENT);
    /* a cut-off table: the text ends inside a line */
    assert_int_equal(agent_port_owner_scan(tcp, 200, 7879, &inode, &uid), -ENOENT);
}

static void test_live(void **state)
{
    (void)state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 1), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    struct agent_port_owner o;
    if (agent_port_owner(ntohs(a.sin_port), &o) < 0) {
        close(s);
        skip(); /* no /proc/net/tcp here (another network namespace, no procfs) */
    }
    assert_int_equal(o.pid, (long)getpid());
    assert_int_equal(o.uid, (unsigned)getuid());
    assert_true(o.comm[0] != '\0');
    close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
