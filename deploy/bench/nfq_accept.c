/* nfq_accept: the floor for nfguard's capture benchmark — the smallest libnetfilter_queue consumer,
 * accepting every packet, with the same settings as nfguard-capture (copy range 4096, queue length
 * 4096, GSO packets whole, no fail-open so an overloaded consumer shows as kernel drops instead of as bypassed packets).
 * Build: cc -O2 -o nfq_accept nfq_accept.c -lnetfilter_queue
 * Usage: nfq_accept [QUEUE]; prints "ready" once bound, and the packet count on SIGTERM/SIGINT. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

static volatile sig_atomic_t stop;
static unsigned long long packets;

static void on_signal(int sig) { (void)sig; stop = 1; }

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
    (void)msg; (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (ph == NULL) return 0;
    packets++;
    return nfq_set_verdict(qh, ntohl(ph->packet_id), NF_ACCEPT, 0, NULL);
}

int main(int argc, char **argv) {
    int queue = argc > 1 ? atoi(argv[1]) : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: recv() returns EINTR so the loop can end */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct nfq_handle *h = nfq_open();
    if (h == NULL) { perror("nfq_open"); return 1; }
    struct nfq_q_handle *qh = nfq_create_queue(h, (unsigned short)queue, on_packet, NULL);
    if (qh == NULL) { perror("nfq_create_queue"); return 1; }
    if (nfq_set_mode(qh, NFQNL_COPY_PACKET, 4096) < 0) { perror("nfq_set_mode"); return 1; }
    if (nfq_set_queue_maxlen(qh, 4096) < 0) { perror("nfq_set_queue_maxlen"); return 1; }
    /* nfguard-capture takes GSO super-packets whole (NFQA_CFG_F_GSO, capture/src/lib.rs); without it
     * the kernel segments every TCP super-packet before queueing and the floor measures segmentation. */
    if (nfq_set_queue_flags(qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO) < 0) { perror("nfq_set_queue_flags"); return 1; }
    int fd = nfq_fd(h);
    /* The same 8 MiB receive buffer as nfguard's socket_buffer default (root may exceed rmem_max). */
    int rcvbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    printf("ready\n");
    fflush(stdout);

    char buf[4096 + 4096] __attribute__((aligned));
    while (!stop) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR || errno == ENOBUFS) continue; /* ENOBUFS: the kernel dropped; go on */
            perror("recv");
            break;
        }
        nfq_handle_packet(h, buf, (int)n);
    }
    printf("packets %llu\n", packets);
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 0;
}
