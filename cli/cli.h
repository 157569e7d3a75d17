/* cli.h - the `tessera` client's commands (one function per sub-command). */
#ifndef TESSERA_CLI_H
#define TESSERA_CLI_H

/* Each takes the arguments after `tessera` (argv[0] is the command name) and
 * returns the exit code: 0 ok, 1 failure, 2 usage. */
int cli_cmd_keygen(int argc, char **argv);
int cli_cmd_stats(int argc, char **argv);

#endif
