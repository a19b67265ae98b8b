// The types and declarations of libpq; its functions are looked up at run time (LibPQ.swift).
#include <postgresql/libpq-fe.h>
