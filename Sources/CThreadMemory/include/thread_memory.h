#ifndef SWITCHBOARD_THREAD_MEMORY_H
#define SWITCHBOARD_THREAD_MEMORY_H

#include <stddef.h>

/// Releases the calling thread's stack pages below its current frame (less `margin` bytes)
/// and the free pages of the malloc heap. Needs glibc (pthread_getattr_np, malloc_trim).
void switchboard_release_unused_memory(size_t margin);

#endif
