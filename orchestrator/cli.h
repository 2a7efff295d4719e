/* cli.h - the commands of meridian (cli.c), for main.c. */
#ifndef MRD_CLI_H
#define MRD_CLI_H

/* Run the command ARGV names, as `meridian ARGV[1] ...`; the exit code
 * (64 for a usage error). */
int cli_main(int argc, char **argv);

#endif
