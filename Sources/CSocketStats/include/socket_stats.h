#ifndef SWITCHBOARD_SOCKET_STATS_H
#define SWITCHBOARD_SOCKET_STATS_H

/*
 * How many bytes the application has taken from a TCP socket so far: what the kernel received
 * minus what still waits in the receive queue; -1 if the kernel cannot tell.
 * A C file of its own because struct tcp_info with tcpi_bytes_received is only in
 * <linux/tcp.h>, whose definitions clash with the <netinet/tcp.h> that Swift's Glibc imports.
 */
long long switchboard_tcp_bytes_consumed(int fd);

#endif
