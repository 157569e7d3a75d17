/* agent.h - tessera-agent's commands (one function per sub-command, one
 * file per command) and what the commands that use an agency directory
 * share (cmd.c). */
#ifndef TESSERA_AGENT_H
#define TESSERA_AGENT_H

#include <signal.h>
#include <stdbool.h>

#include "conf.h"
#include "outbox.h"

/* 0 ok, 1 failure, 2 usage; 3 to 7 are the collector's (TSR_EXIT_*,
 * client.h): unreachable, wrong server key, key not authorised, timed out,
 * wrong network key; 8: another tessera-agent holds the directory. */
enum { AGENT_EXIT_OK = 0, AGENT_EXIT_FAIL = 1, AGENT_EXIT_USAGE = 2, AGENT_EXIT_LOCKED = 8 };

/* Each takes the arguments after the command name (argv[0] is the command)
 * and returns the process exit code. */
int agent_cmd_check(int argc, char **argv);
int agent_cmd_hash(int argc, char **argv);
int agent_cmd_keygen(int argc, char **argv);
int agent_cmd_init(int argc, char **argv);
int agent_cmd_submit(int argc, char **argv);
int agent_cmd_retract(int argc, char **argv);
int agent_cmd_resolve(int argc, char **argv);
int agent_cmd_status(int argc, char **argv);
int agent_cmd_run(int argc, char **argv);
int agent_cmd_backup(int argc, char **argv);
int agent_cmd_restore(int argc, char **argv);

/* Set by SIGTERM/SIGINT in `run`: delivery stops between batches. */
extern volatile sig_atomic_t agent_cmd_stop;
/* `run`: agent_cmd_say does not repeat the message it printed last. */
extern bool agent_cmd_daemon;

/* Prints "tessera-agent: MESSAGE" on stderr (in `run`, unless it is the
 * message printed last). */
void agent_cmd_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Refuses root unless allow_root (issue 15), saying why. */
bool agent_cmd_root_refused(bool allow_root);

/* An agency directory's command, opened: its config, the lock on its
 * directory (agent_lock.h; NULL for commands that only read), its outbox. */
typedef struct agent_cmd {
    agent_conf_t *conf;
    struct agent_lock *lock;
    agent_outbox_t *ob;
} agent_cmd_t;

/* What every command on an agency directory starts with: --config,
 * --allow-root and --help, at least min_args operands, the refusal of root,
 * and the config (its files checked), into cmd (zeroed first). Returns -1
 * to go on (then close cmd with agent_cmd_close), or the exit code. */
int agent_cmd_args(agent_cmd_t *cmd, int argc, char **argv, const char *usage, int min_args);

/* What every outbox command starts with: agent_cmd_args, the directory's
 * lock when `locked` (one agent process per directory), and the outbox.
 * Returns -1 to go on (then close cmd with agent_cmd_close), or the exit
 * code to return at once (nothing left open). */
int agent_cmd_open(agent_cmd_t *cmd, int argc, char **argv, const char *usage, int min_args,
                   bool locked);

/* Takes dir's lock (lock.h), waiting 2 s, or says which process holds it
 * and that not_done ("Nothing was written"). Returns -1 (*lock is the
 * caller's: agent_lock_destroy), or the exit code (AGENT_EXIT_LOCKED). */
int agent_cmd_lock(struct agent_lock **lock, const char *dir, const char *not_done);

/* Closes what agent_cmd_open opened and returns rc. */
int agent_cmd_close(agent_cmd_t *cmd, int rc);

#endif
