/* A UDP echo server for containers whose busybox has no UDP nc (test_rootless.py):
 * udp_echo_probe PORT answers each datagram on 0.0.0.0:PORT with "echo: " + it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    char in[2048], out[2056];
    for (;;) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(fd, in, sizeof in, 0, (struct sockaddr *)&peer, &len);
        if (n < 0)
            continue;
        memcpy(out, "echo: ", 6);
        memcpy(out + 6, in, n);
        sendto(fd, out, n + 6, 0, (struct sockaddr *)&peer, len);
    }
}
