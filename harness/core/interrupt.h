/* interrupt.h — Ctrl-C during a long run. The first SIGINT or SIGTERM asks the work to stop: it
 * sets attn_interrupted, which the loops that can run for seconds read (each timed sample, each
 * row of the CPU algorithms, each chunk of fp64 reference rows); a second one ends the process at
 * once, as that signal's default action would. Only `attnbench run` installs the handlers;
 * elsewhere the flag stays 0 and a check costs one load. */
#ifndef ATTN_INTERRUPT_H
#define ATTN_INTERRUPT_H

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The first signal's number; 0 while none has arrived. */
extern volatile sig_atomic_t attn_interrupted;

/* Installs the handlers for SIGINT and SIGTERM. */
void attn_interrupt_install(void);

/* ATTN_ERR with "interrupted by SIGINT" (or SIGTERM) in attn_last_error once a signal has arrived,
 * else ATTN_OK: what a long loop returns through. */
int attn_interrupt_check(void);

#ifdef __cplusplus
}
#endif
#endif
