/* meridian - the operator CLI.  Every command, its help and its options
 * are in cli.c. */
#include "cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
