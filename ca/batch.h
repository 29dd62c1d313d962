/*
 * batch: the text of a `signet issue --batch` list, one certificate a line:
 *
 *	CSR-FILE MAILBOX PROFILE [DISPLAY NAME]
 *
 * the fields separated by blanks (spaces or tabs), the display name the
 * rest of the line less its outer blanks; blank lines and lines whose
 * first field starts with # are skipped. Only the text is judged here;
 * the CLI checks what the fields name (ca/cmd_cert.c).
 */
#ifndef SIGNET_BATCH_H
#define SIGNET_BATCH_H

#define BATCH_LIST_MAX	(16 * 1024 * 1024)	/* bytes */
#define BATCH_LINES_MAX	100000			/* certificates */

struct batch_fields {
	char	*csr, *email, *profile;
	char	*name;		/* NULL: none given */
};

/*
 * Splits one line in place (NUL-terminated, without its \n; a final \r is
 * dropped). Returns 1 with f set, 0 for a blank line or a comment, -1
 * with *why saying what is wrong (a control character, a missing field).
 */
int		 batch_line_split(char *line, struct batch_fields *f,
		    const char **why);

/*
 * A display name (kept in the certificate's row): 1 to 128 bytes of UTF-8
 * without control characters (C0, DEL, C1). NULL when fine, else what is
 * wrong.
 */
const char	*batch_name_problem(const char *name);

/* DIR/<the CSR file's name less its extension>.pem, malloc'd; NULL when
 * out of memory. */
char		*batch_out_path(const char *dir, const char *csr);

#endif
