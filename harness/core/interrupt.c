/* interrupt.c — the stop flag and its signal handlers (see interrupt.h). The handler does only
 * what is async-signal-safe: set the flag, write(2) one line, or restore the default action and
 * re-raise. */
#include "core/interrupt.h"

#include <string.h>
#include <unistd.h>

#include "core/error.h"

volatile sig_atomic_t attn_interrupted;

static void on_signal(int sig)
{
    static const char note[] =
        "\nattnbench: stopping at the next sample or row; the point in progress is not stored "
        "(a second Ctrl-C quits at once)\n";
    if (attn_interrupted) { /* the second signal: its default action, now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    attn_interrupted = sig;
    if (write(STDERR_FILENO, note, sizeof note - 1) < 0) { /* nothing to do about it */
    }
}

void attn_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int attn_interrupt_check(void)
{
    if (!attn_interrupted) return ATTN_OK;
    return attn_fail("interrupted by %s", attn_interrupted == SIGTERM ? "SIGTERM" : "SIGINT");
}
