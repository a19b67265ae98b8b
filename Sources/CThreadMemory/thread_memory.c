#define _GNU_SOURCE
#include "thread_memory.h"

#include <malloc.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void switchboard_release_unused_stack(void) {
    release_stack_below_frame(256);
}

/* The arguments the program was started with: glibc hands them to ELF constructors too. */
static char **own_arguments;

static __attribute__((constructor)) void remember_arguments(int argc, char **argv, char **envp) {
    (void)argc;
    (void)envp;
    own_arguments = argv;
}

/* True if the GLIBC_TUNABLES value `list` ("name=value:name=value") sets the tunable `name`. */
static int sets_tunable(const char *list, const char *name, size_t nameLength) {
    for (const char *entry = list; entry != NULL; entry = strchr(entry, ':') != NULL ? strchr(entry, ':') + 1 : NULL) {
        if (strncmp(entry, name, nameLength) == 0 && entry[nameLength] == '=') {
            return 1;
        }
    }
    return 0;
}

void switchboard_restart_with_glibc_tunable(const char *setting) {
    const char *equals = strchr(setting, '=');
    if (own_arguments == NULL || own_arguments[0] == NULL || equals == NULL || equals == setting) {
        return;
    }
    /* Under valgrind (its preload libraries are in LD_PRELOAD) the exec would start the
       program outside valgrind, which valgrind refuses: run with glibc's defaults there. */
    const char *preload = getenv("LD_PRELOAD");
    if (preload != NULL && strstr(preload, "vgpreload") != NULL) {
        return;
    }
    const char *current = getenv("GLIBC_TUNABLES");
    if (sets_tunable(current, setting, (size_t)(equals - setting))) {
        return;
    }
    size_t size = strlen(setting) + (current != NULL ? strlen(current) + 2 : 1);
    char *value = malloc(size);
    char *previous = current != NULL ? strdup(current) : NULL;
    if (value != NULL && (current == NULL || previous != NULL)) {
        snprintf(value, size, "%s%s%s", previous != NULL ? previous : "", previous != NULL ? ":" : "", setting);
        if (setenv("GLIBC_TUNABLES", value, 1) == 0) {
            execv("/proc/self/exe", own_arguments);
            /* Still here: the exec failed; carry on as started. */
            if (previous != NULL) {
                setenv("GLIBC_TUNABLES", previous, 1);
            } else {
                unsetenv("GLIBC_TUNABLES");
            }
        }
    }
    free(value);
    free(previous);
}

void switchboard_release_crypto_thread_state(void) {
    OPENSSL_thread_stop();
}
