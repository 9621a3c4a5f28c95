/* tests/tools/svm_probe.c - a tiny static probe the system tests copy into guests (the tiny
 * guest has busybox only) to play the attacker of issue 11 and to see whether it got through:
 *
 *   svm_probe gre NODE_IP KEY DST_MAC SRC_IP DST_IP PORT TEXT
 *       sends one GRE packet (key KEY, protocol 0x6558: an Ethernet frame) to NODE_IP. The
 *       frame inside goes to DST_MAC carrying a UDP datagram SRC_IP:PORT -> DST_IP:PORT with
 *       TEXT: what a flow-based GRE port decapsulates and switches by its tunnel key.
 *   svm_probe listen-udp PORT SECONDS
 *       prints the first datagram that reaches UDP PORT within SECONDS ("GOT <text>"), or
 *       "NOTHING"; exit 0 either way.
 *   svm_probe connect IP PORT SRC_PORT SECONDS
 *       a TCP connection from local port SRC_PORT (below 1024 needs root): exit 0 when it
 *       connected, 1 when it did not.
 *
 * Test code, in C so that one `cc -static` builds it with nothing but libc.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int usage(void) {
  fprintf(stderr,
          "usage: svm_probe gre NODE_IP KEY DST_MAC SRC_IP DST_IP PORT TEXT\n"
          "       svm_probe listen-udp PORT SECONDS\n"
          "       svm_probe connect IP PORT SRC_PORT SECONDS\n");
  return 2;
}

static uint16_t ip_checksum(const unsigned char *p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static int parse_mac(const char *text, unsigned char mac[6]) {
  unsigned v[6];
  if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) mac[i] = (unsigned char)v[i];
  return 0;
}

static int gre(char **argv) {
  struct in_addr node, src, dst;
  unsigned char dst_mac[6];
  if (inet_pton(AF_INET, argv[0], &node) != 1 || inet_pton(AF_INET, argv[3], &src) != 1 ||
      inet_pton(AF_INET, argv[4], &dst) != 1 || parse_mac(argv[2], dst_mac) != 0) {
    return usage();
  }
  const uint32_t key = (uint32_t)strtoul(argv[1], NULL, 0);
  const uint16_t port = (uint16_t)atoi(argv[5]);
  const char *text = argv[6];
  const size_t tlen = strlen(text);
  unsigned char pkt[1500];
  size_t n = 0;
  /* GRE: K bit set, version 0, protocol 0x6558 (transparent Ethernet bridging), key. */
  const unsigned char gre_hdr[8] = {0x20, 0x00, 0x65, 0x58, (unsigned char)(key >> 24), (unsigned char)(key >> 16),
                                    (unsigned char)(key >> 8), (unsigned char)key};
  memcpy(pkt, gre_hdr, 8);
  n = 8;
  /* Ethernet: to the victim's MAC, from a locally administered one, IPv4. */
  memcpy(pkt + n, dst_mac, 6);
  const unsigned char src_mac[6] = {0x02, 0xba, 0xd0, 0x00, 0x00, 0x01};
  memcpy(pkt + n + 6, src_mac, 6);
  pkt[n + 12] = 0x08;
  pkt[n + 13] = 0x00;
  n += 14;
  if (tlen > 1000) return usage();
  /* IPv4 + UDP. */
  unsigned char *ip = pkt + n;
  const size_t ip_len = 20 + 8 + tlen;
  memset(ip, 0, 20);
  ip[0] = 0x45;
  ip[2] = (unsigned char)(ip_len >> 8);
  ip[3] = (unsigned char)ip_len;
  ip[8] = 64;
  ip[9] = 17;
  memcpy(ip + 12, &src.s_addr, 4);
  memcpy(ip + 16, &dst.s_addr, 4);
  const uint16_t c = ip_checksum(ip, 20);
  ip[10] = (unsigned char)(c >> 8);
  ip[11] = (unsigned char)c;
  unsigned char *udp = ip + 20;
  udp[0] = (unsigned char)(port >> 8);
  udp[1] = (unsigned char)port;
  udp[2] = (unsigned char)(port >> 8);
  udp[3] = (unsigned char)port;
  udp[4] = (unsigned char)((8 + tlen) >> 8);
  udp[5] = (unsigned char)(8 + tlen);
  udp[6] = udp[7] = 0; /* no UDP checksum: valid for IPv4 */
  memcpy(udp + 8, text, tlen);
  n += ip_len;

  const int fd = socket(AF_INET, SOCK_RAW, IPPROTO_GRE);
  if (fd < 0) {
    perror("svm_probe: socket(SOCK_RAW, IPPROTO_GRE)");
    return 1;
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = node};
  /* A few copies: the first may be spent resolving the next hop. */
  for (int i = 0; i < 3; i++) {
    if (sendto(fd, pkt, n, 0, (struct sockaddr *)&to, sizeof to) < 0) {
      perror("svm_probe: sendto");
      return 1;
    }
    usleep(200000);
  }
  close(fd);
  return 0;
}

static int listen_udp(char **argv) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[0]))};
  if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) != 0) {
    perror("svm_probe: bind");
    return 1;
  }
  struct pollfd p = {.fd = fd, .events = POLLIN};
  const int r = poll(&p, 1, atoi(argv[1]) * 1000);
  if (r == 1) {
    char buf[1100];
    const ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    printf("GOT %s\n", buf);
  } else {
    printf("NOTHING\n");
  }
  fflush(stdout);
  return 0;
}

static int connect_from(char **argv) {
  struct in_addr addr;
  if (inet_pton(AF_INET, argv[0], &addr) != 1) return usage();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0) {
    perror("svm_probe: bind");
    return 1;
  }
  struct timeval tv = {.tv_sec = atoi(argv[3])};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])), .sin_addr = addr};
  if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
    fprintf(stderr, "svm_probe: connect: %s\n", strerror(errno));
    return 1;
  }
  const char hello[] = "hello\n";
  if (write(fd, hello, sizeof hello - 1) < 0) return 1;
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 9 && strcmp(argv[1], "gre") == 0) return gre(argv + 2);
  if (argc == 4 && strcmp(argv[1], "listen-udp") == 0) return listen_udp(argv + 2);
  if (argc == 6 && strcmp(argv[1], "connect") == 0) return connect_from(argv + 2);
  return usage();
}
