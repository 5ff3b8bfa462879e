/* commands.h — the subcommands of build/attnbench. Each takes the arguments after its name and
 * returns the process exit status: 0 success, 1 failure (or, for gates, what their help says),
 * 2 bad usage or bad input (then nothing has been written). */
#ifndef ATTN_COMMANDS_H
#define ATTN_COMMANDS_H

int cmd_run(int argc, char **argv);     /* run/run.c */
int cmd_list(int argc, char **argv);    /* run/list.c */
int cmd_ab(int argc, char **argv);      /* run/ab.c */
int cmd_merge(int argc, char **argv);   /* run/merge.c */
int cmd_show(int argc, char **argv);    /* report/show.c */
int cmd_plot(int argc, char **argv);    /* report/plot.c */
int cmd_report(int argc, char **argv);  /* report/report.c */
int cmd_export(int argc, char **argv);  /* report/export.c */
int cmd_compare(int argc, char **argv); /* report/compare.c */
int cmd_history(int argc, char **argv); /* report/history.c */

#endif
