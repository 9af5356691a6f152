#ifndef REELGATE_CEPOLL_SHIM_H
#define REELGATE_CEPOLL_SHIM_H
/* epoll and eventfd, which Glibc's Swift module does not expose, as typed inline wrappers.
   struct epoll_event is packed on x86_64, so Swift never touches it directly: events live in
   a buffer these functions index. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static const uint32_t CEPOLL_IN = EPOLLIN;
static const uint32_t CEPOLL_OUT = EPOLLOUT;
static const uint32_t CEPOLL_RDHUP = EPOLLRDHUP;
static const uint32_t CEPOLL_HUP = EPOLLHUP;
static const uint32_t CEPOLL_ERR = EPOLLERR;
static const uint32_t CEPOLL_ET = EPOLLET;

static inline int cepoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static inline int cepoll_add(int epfd, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static inline int cepoll_remove(int epfd, int fd) {
    struct epoll_event ev;
    ev.events = 0;
    ev.data.u64 = 0;
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev);
}

static inline void *cepoll_events_allocate(int count) { return calloc((size_t)count, sizeof(struct epoll_event)); }
static inline void cepoll_events_free(void *events) { free(events); }

static inline int cepoll_wait(int epfd, void *events, int count, int timeout_ms) {
    return epoll_wait(epfd, (struct epoll_event *)events, count, timeout_ms);
}

static inline uint64_t cepoll_event_token(const void *events, int i) { return ((const struct epoll_event *)events)[i].data.u64; }
static inline uint32_t cepoll_event_flags(const void *events, int i) { return ((const struct epoll_event *)events)[i].events; }

static inline int ceventfd_create(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
static inline void ceventfd_signal(int fd) { uint64_t one = 1; ssize_t r = write(fd, &one, sizeof one); (void)r; }
static inline void ceventfd_drain(int fd) { uint64_t value; ssize_t r = read(fd, &value, sizeof value); (void)r; }
#endif
