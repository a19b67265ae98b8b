#define _GNU_SOURCE
#include "thread_memory.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* Releases the calling thread's stack pages more than `margin` bytes below this function's
   frame. Nothing lives below the stack pointer, and the kernel hands out zeroed pages again if
   the stack grows back down; the margin must cover what runs below the frame meanwhile (the
   madvise call). */
static __attribute__((noinline)) void release_stack_below_frame(size_t margin) {
    pthread_attr_t attributes;
    if (pthread_getattr_np(pthread_self(), &attributes) != 0) {
        return;
    }
    uintptr_t here = (uintptr_t)&attributes;
    void *lowest = NULL;
    size_t size = 0;
    if (pthread_attr_getstack(&attributes, &lowest, &size) == 0 && lowest != NULL) {
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t start = (uintptr_t)lowest;
        if (here > start + margin + page) {
            uintptr_t end = (here - margin) & ~(page - 1);
            madvise(lowest, end - start, MADV_DONTNEED);
        }
    }
    pthread_attr_destroy(&attributes);
}

void switchboard_release_unused_memory(size_t margin) {
    release_stack_below_frame(margin);
    malloc_trim(0);
}
