/* agent.h - tessera-agent's commands (one function per sub-command). */
#ifndef TESSERA_AGENT_H
#define TESSERA_AGENT_H

/* Each takes the arguments after the command name (argv[0] is the command)
 * and returns the process exit code: 0 ok, 1 failure, 2 usage. */
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

#endif
