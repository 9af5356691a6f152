/* wsload: a small WebSocket load client for reelgate's Runware transport (bench/websocket).
 *
 * wrk cannot speak WebSocket, so this does what wrk does for REST: N connections, each with one
 * message outstanding (send, wait for its answer, send the next), for a fixed time, then prints
 * "messages/s p99_ms errors". Each connection does the opening handshake and authenticates first.
 *
 *   wsload HOST PORT KEY submit CONNECTIONS SECONDS        unique videoInference tasks
 *   wsload HOST PORT KEY poll   CONNECTIONS SECONDS IDS    getResponse, cycling over the ids in file IDS
 *   wsload HOST PORT KEY idle   CONNECTIONS SECONDS        authenticate, then hold the sockets silent;
 *                                                          prints "ready N" once all are authenticated
 *
 * Frames are masked (with a zero key, which RFC 6455 allows); the server's are parsed as they
 * come. Messages that are pushes (results of finished tasks, with "status") are counted apart. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum phase { HANDSHAKE, AUTH, READY };
struct conn {
    int fd;
    enum phase phase;
    char *in;
    size_t len, cap;
    double sent;
    int outstanding;
    char *out;
    size_t out_len, out_off;
};

static const char *key, *mode;
static char **ids;
static size_t id_count, id_next;
static double *lat;
static size_t lat_n, lat_cap;
static long errors, pushes, ready_count;
static int is_idle;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void queue(struct conn *c, const char *data, size_t n) {
    if (c->out_len + n > 65536) { errors++; return; }
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
}

static void flush(struct conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n <= 0) return;  /* EAGAIN: EPOLLOUT resumes */
        c->out_off += n;
    }
    c->out_len = c->out_off = 0;
}

static void send_text(struct conn *c, const char *text) {
    size_t n = strlen(text);
    unsigned char head[8];
    size_t h = 0;
    head[h++] = 0x81;
    if (n < 126) head[h++] = 0x80 | n;
    else { head[h++] = 0x80 | 126; head[h++] = n >> 8; head[h++] = n & 0xff; }
    memset(head + h, 0, 4);  /* the zero masking key */
    h += 4;
    queue(c, (char *)head, h);
    queue(c, text, n);
    flush(c);
}

static void uuid4(char *out) {
    unsigned char b[16];
    for (int i = 0; i < 16; i++) b[i] = rand() & 0xff;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    sprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
            b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void next_request(struct conn *c) {
    char msg[512], id[40];
    if (!strcmp(mode, "submit")) {
        uuid4(id);
        snprintf(msg, sizeof msg,
                 "[{\"taskType\":\"videoInference\",\"taskUUID\":\"%s\",\"model\":\"reelgate:simulator@1\","
                 "\"positivePrompt\":\"a benchmark of paper boats\",\"duration\":5,\"deliveryMethod\":\"async\"}]", id);
    } else {
        snprintf(msg, sizeof msg, "[{\"taskType\":\"getResponse\",\"taskUUID\":\"%s\"}]", ids[id_next++ % id_count]);
    }
    c->sent = now();
    c->outstanding = 1;
    send_text(c, msg);
}

static void on_message(struct conn *c, const char *text, size_t n, double deadline) {
    if (c->phase == AUTH) {
        if (!memmem(text, n, "connectionSessionUUID", 21)) { errors++; return; }
        c->phase = READY;
        ready_count++;
        if (!is_idle) next_request(c);
        return;
    }
    if (!strcmp(mode, "submit") && memmem(text, n, "\"status\"", 8)) { pushes++; return; }
    if (memmem(text, n, "\"errors\"", 8)) errors++;
    c->outstanding = 0;
    if (lat_n == lat_cap) { lat_cap = lat_cap ? lat_cap * 2 : 1 << 16; lat = realloc(lat, lat_cap * sizeof *lat); }
    lat[lat_n++] = now() - c->sent;
    if (now() < deadline) next_request(c);
}

/* Consumes whole frames from c->in. */
static void on_readable(struct conn *c, double deadline) {
    for (;;) {
        if (c->len == c->cap) { c->cap = c->cap ? c->cap * 2 : 4096; c->in = realloc(c->in, c->cap); }
        ssize_t n = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
        if (n <= 0) break;
        c->len += n;
    }
    size_t off = 0;
    if (c->phase == HANDSHAKE) {
        char *end = memmem(c->in, c->len, "\r\n\r\n", 4);
        if (!end) return;
        if (!strcmp(mode, "http-idle")) {  /* the baseline: a plain keep-alive connection */
            c->phase = READY;
            ready_count++;
            c->len = 0;
            return;
        }
        if (strncmp(c->in, "HTTP/1.1 101", 12)) { errors++; c->len = 0; return; }
        off = end + 4 - c->in;
        c->phase = AUTH;
        char auth[256];
        snprintf(auth, sizeof auth, "[{\"taskType\":\"authentication\",\"apiKey\":\"%s\"}]", key);
        send_text(c, auth);
    }
    for (;;) {
        size_t avail = c->len - off;
        if (avail < 2) break;
        unsigned char *p = (unsigned char *)c->in + off;
        size_t h = 2, len = p[1] & 0x7f;
        if (len == 126) { if (avail < 4) break; len = p[2] << 8 | p[3]; h = 4; }
        else if (len == 127) { if (avail < 10) break; len = 0; for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i]; h = 10; }
        if (avail < h + len) break;
        if ((p[0] & 0x0f) == 1) on_message(c, (char *)p + h, len, deadline);
        else if ((p[0] & 0x0f) == 8) errors++;
        off += h + len;
    }
    memmove(c->in, c->in + off, c->len - off);
    c->len -= off;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "usage: wsload HOST PORT KEY submit|poll|idle CONNECTIONS SECONDS [IDS]\n"); return 2; }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    key = argv[3];
    mode = argv[4];
    int count = atoi(argv[5]);
    double seconds = atof(argv[6]);
    srand(getpid() ^ time(NULL));
    is_idle = !strcmp(mode, "idle") || !strcmp(mode, "http-idle");
    if (!strcmp(mode, "poll")) {
        FILE *f = fopen(argv[7], "r");
        char line[64];
        while (f && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (!*line) continue;
            ids = realloc(ids, (id_count + 1) * sizeof *ids);
            ids[id_count++] = strdup(line);
        }
        if (!id_count) { fprintf(stderr, "no ids\n"); return 2; }
    }
    int ep = epoll_create1(0);
    struct conn *conns = calloc(count, sizeof *conns);
    char request[512];
    if (!strcmp(mode, "http-idle")) snprintf(request, sizeof request, "GET /healthz HTTP/1.1\r\nHost: %s:%d\r\n\r\n", host, port);
    else snprintf(request, sizeof request,
             "GET /v1 HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host, port);
    for (int i = 0; i < count; i++) {
        struct conn *c = &conns[i];
        c->out = malloc(65536);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        inet_pton(AF_INET, host, &a.sin_addr);
        connect(c->fd, (struct sockaddr *)&a, sizeof a);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        queue(c, request, strlen(request));
    }
    double start = now(), deadline = start + seconds;
    int announced = 0;
    struct epoll_event events[512];
    /* idle: run until the deadline; the others: until it passes and every answer is in. */
    while (now() < deadline + (!is_idle ? 5 : 0)) {
        int n = epoll_wait(ep, events, 512, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[events[i].data.u32];
            if (events[i].events & EPOLLOUT) flush(c);
            if (events[i].events & EPOLLIN) on_readable(c, deadline);
            if (events[i].events & (EPOLLHUP | EPOLLERR)) { errors++; close(c->fd); c->fd = -1; }
        }
        if (is_idle && !announced && ready_count == count) {
            printf("ready %ld\n", ready_count);
            fflush(stdout);
            announced = 1;
        }
        if (!is_idle && now() > deadline) {
            int waiting = 0;
            for (int i = 0; i < count; i++) waiting |= conns[i].outstanding;
            if (!waiting) break;
        }
    }
    if (is_idle) {
        printf("held %ld of %d\n", ready_count, count);
        return 0;
    }
    double elapsed = seconds;
    qsort(lat, lat_n, sizeof *lat, cmp);
    double p99 = lat_n ? lat[(size_t)(lat_n * 0.99)] * 1000 : 0;
    printf("%.0f %.2fms %ld %ld\n", lat_n / elapsed, p99, errors, pushes);
    return 0;
}
