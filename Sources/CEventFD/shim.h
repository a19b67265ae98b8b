/// glibc's eventfd, which Swift's Glibc module does not include (it is in libc itself, so
/// nothing to link).
#include <sys/eventfd.h>
