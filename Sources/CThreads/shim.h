#ifndef REELGATE_CTHREADS_SHIM_H
#define REELGATE_CTHREADS_SHIM_H
/* Thread names and stack captures for the event loops, which Glibc's Swift module does not
   expose: a loop's thread is named for `top -H`, perf and gdb, and the loop watchdog can ask a
   held-up loop's thread where it is (a real-time signal whose handler only records the return
   addresses; they are turned into text on the watchdog's own thread). */
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CTHREADS_STACK_DEPTH 48

#define CTHREADS_STACK_MAGIC 0x72656c67u

/* Filled by the signalled thread, which then posts `done`. */
typedef struct {
    unsigned magic;
    void *frames[CTHREADS_STACK_DEPTH];
    int count;
    sem_t done;
} cthreads_stack;

static inline int cthreads_stack_signal(void) { return SIGRTMIN + 3; }

/* Only a request from this process is answered (any process of the same user can queue a
   signal with a pointer). errno is kept: the signal may land between a failed call and the
   read of its errno. backtrace() is not strictly async-signal-safe: warmed up (below) it no
   longer loads or allocates, but an unwinder lock could still be held by the interrupted
   thread; acceptable for a thread already held up for a second, and said here. */
static inline void cthreads_stack_handler(int sig, siginfo_t *info, void *context) {
    (void)sig;
    (void)context;
    if (info->si_code != SI_QUEUE || info->si_pid != getpid() || info->si_value.sival_ptr == NULL) return;
    cthreads_stack *stack = (cthreads_stack *)info->si_value.sival_ptr;
    if (stack->magic != CTHREADS_STACK_MAGIC) return;
    int saved = errno;
    stack->count = backtrace(stack->frames, CTHREADS_STACK_DEPTH);
    sem_post(&stack->done); /* async-signal-safe */
    errno = saved;
}

/* Once per process, before any capture. `backtrace` loads its unwinder on first use (dlopen,
   malloc), which a signal handler must not do: it is called once here instead. */
static inline void cthreads_install_stack_handler(void) {
    void *warm[1];
    (void)backtrace(warm, 1);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = cthreads_stack_handler;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(cthreads_stack_signal(), &action, NULL);
}

/* Asks `thread` for its stack and waits up to `timeout_ms` for it. Returns the capture, to be
   freed with cthreads_stack_free, or NULL if the thread did not answer in time (the capture is
   then left to the handler that may still run: never freed, a few hundred bytes). */
static inline cthreads_stack *cthreads_capture_stack(unsigned long thread, int timeout_ms) {
    cthreads_stack *stack = (cthreads_stack *)calloc(1, sizeof(cthreads_stack));
    if (stack == NULL) return NULL;
    stack->magic = CTHREADS_STACK_MAGIC;
    sem_init(&stack->done, 0, 0);
    union sigval value;
    value.sival_ptr = stack;
    if (pthread_sigqueue((pthread_t)thread, cthreads_stack_signal(), value) != 0) {
        sem_destroy(&stack->done);
        free(stack);
        return NULL;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec += 1; until.tv_nsec -= 1000000000L; }
    while (sem_clockwait(&stack->done, CLOCK_MONOTONIC, &until) != 0) {
        if (errno != EINTR) return NULL;
    }
    return stack;
}

static inline int cthreads_stack_count(const cthreads_stack *stack) { return stack->count; }

/* The frames as text (backtrace_symbols: `binary(symbol+offset) [address]`), one malloc'd
   array to free with free(). */
static inline char **cthreads_stack_symbols(cthreads_stack *stack) { return backtrace_symbols(stack->frames, stack->count); }

static inline void cthreads_stack_free(cthreads_stack *stack) {
    sem_destroy(&stack->done);
    free(stack);
}

/* For the calling thread: its name (the last 15 bytes, where a loop's index is), and the stack
   signal let through (a thread started from a dispatch worker inherits a mask that blocks it). */
static inline void cthreads_prepare_current(const char *name) {
    size_t length = strlen(name);
    pthread_setname_np(pthread_self(), length > 15 ? name + (length - 15) : name);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, cthreads_stack_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
#endif
