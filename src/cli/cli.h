/* Internal header of the command-line tool. Each command lives in its own
 * cli_<name>.c and is listed once in the table in main.c. */
#ifndef EVP_CLI_CLI_H
#define EVP_CLI_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Exit codes shared by every command. */
#define EVP_CLI_OK 0
#define EVP_CLI_FAIL 1  /* the command ran and the answer is "no" */
#define EVP_CLI_USAGE 2 /* bad usage or I/O error */

/* A command: argv[0] is the command's own name. */
typedef int (*evp_cli_cmd_fn)(int argc, char **argv);

int evp__cli_version(int argc, char **argv);
int evp__cli_token(int argc, char **argv);
int evp__cli_schema(int argc, char **argv);
int evp__cli_validate(int argc, char **argv);
int evp__cli_conf_doc(int argc, char **argv);
int evp__cli_send(int argc, char **argv);
int evp__cli_local(int argc, char **argv);
int evp__cli_secret(int argc, char **argv);
int evp__cli_demo(int argc, char **argv);
int evp__cli_spool(int argc, char **argv);
int evp__cli_lake(int argc, char **argv);

/* The event schema of `evpipe local` on @p data_dir when no --schema is
 * given: DATA_DIR/schema.json, written from the built-in schema when it does
 * not exist yet. Fills @p def with its path and returns 0, or prints why
 * (prefixed "evpipe @p cmd:") and returns -1. Server builds only. */
int evp__cli_default_schema(const char *cmd, const char *data_dir, char *def, size_t def_size);

/* The command being run ("local", "spool inspect"), for messages printed by
 * the shared helpers below; set once by each dispatcher. Not thread-safe
 * (the CLI sets it before any thread starts). */
void evp__cli_set_command(const char *name);
const char *evp__cli_command(void);

/* Option parsing shared by commands: "--name VALUE" or "--name=VALUE".
 * Returns 1 and sets *val when argv[*i] is option @p name (advancing *i past
 * a separate value), 0 when it is another argument, -1 when the value is
 * missing (a message has been printed). */
int evp__cli_opt(int argc, char **argv, int *i, const char *name, const char **val);

/* Parse a decimal int64 in [min, max]; returns 0 on success. */
int evp__cli_parse_i64(const char *s, long long min, long long max, long long *out);

/* Copy @p src into dst[cap] (cap >= 1), cut to cap - 1 bytes if longer.
 * Used for the short reason texts the summaries tally. */
void evp__cli_copy_cut(char *dst, size_t cap, const char *src);

/* Read a key file: raw bytes, or "base64:<standard base64>"; one trailing
 * newline is ignored. The file must not be readable or writable by group or
 * others. On success *key is malloc'd (caller wipes and frees). Returns 0, or
 * prints the reason and returns -1. */
int evp__cli_read_key_file(const char *path, unsigned char **key, size_t *keylen);

/* evp__cli_read_key_file for any secret file, its messages prefixed
 * "@p cmd:" and calling the file @p noun ("client secret file"). */
int evp__cli_read_secret_file(const char *cmd, const char *noun, const char *path,
                              unsigned char **key, size_t *keylen);

#endif
