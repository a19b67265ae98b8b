#include "socket_stats.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

long long switchboard_tcp_bytes_consumed(int fd) {
    struct tcp_info info;
    socklen_t length = sizeof(info);
    int queued = 0;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0 ||
        length < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received) ||
        ioctl(fd, FIONREAD, &queued) != 0) {
        return -1;
    }
    return (long long)info.tcpi_bytes_received - queued;
}
