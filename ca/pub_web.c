/*
 * pub_web: publishes certificates, the CA certificate and the CRL as a
 * static directory tree (see pub_web.h for the layout). A reader of the
 * tree sees either the old or the new version of any file, never a torn
 * one: temp file in the same directory, fsync, rename, fsync the
 * directory (rename(2) is atomic within a file system).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pub_web.h"
#include "../web/tmpl.h"

#define INDEX_TEMPLATE	"published-index"

struct pub_web {
	char			*name;		/* web.NAME */
	char			*root;
	char			*templates;
	char			*crl_path;	/* relative to root */
	const char		*ca_name;
	struct tmpl_cache	*tc;
};

static int
setstr(char **dst, const char *val, struct err *e)
{
	char	*s;

	if ((s = strdup(val)) == NULL)
		return err_set(e, "out of memory");
	free(*dst);
	*dst = s;
	return 0;
}

struct pub_web *
pub_web_new(const char *name, struct err *e)
{
	struct pub_web	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    asprintf(&w->name, "web.%s", name) < 0) {
		free(w);
		err_set(e, "out of memory");
		return NULL;
	}
	return w;
}

void
pub_web_free(struct pub_web *w)
{
	if (w == NULL)
		return;
	free(w->name);
	free(w->root);
	free(w->templates);
	free(w->crl_path);
	tmpl_cache_free(w->tc);
	free(w);
}

const char *
pub_web_name(const struct pub_web *w)
{
	return w->name;
}

/* A relative path that stays inside the root: no "..", no empty parts. */
static int
inside(const char *p)
{
	const char	*s = p;
	size_t		 n;

	if (*p == '\0' || *p == '/')
		return 0;
	while (*s != '\0') {
		n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n;
		if (*s == '/')
			s++;
	}
	return 1;
}

int
pub_web_set(struct pub_web *w, const char *key, const char *val,
    struct err *e)
{
	if (!strcmp(key, "root"))
		return setstr(&w->root, val, e);
	if (!strcmp(key, "templates"))
		return setstr(&w->templates, val, e);
	if (!strcmp(key, "crl_path")) {
		if (!inside(val))
			return err_set(e, "crl_path must be a relative path "
			    "inside the root");
		return setstr(&w->crl_path, val, e);
	}
	return err_set(e, "unknown setting");
}

/* RFC 5280 4.2.1.13: the CRL goes where the distribution point says, so
 * serving the root at the CDP URL's origin makes the URL work. */
static char *
crl_path_of(const char *url)
{
	const char	*p;

	if (url == NULL || strncmp(url, "http://", 7) != 0 ||
	    (p = strchr(url + 7, '/')) == NULL)
		return strdup("crl/ca.crl");
	while (*p == '/')
		p++;
	return inside(p) && strcspn(p, "?#") == strlen(p) ? strdup(p) : NULL;
}

static int
mkdirs(const char *path, struct err *e)
{
	char	 buf[PATH_MAX], *s;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return err_set(e, "%s: path too long", path);
	for (s = buf + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char	c = *s;

			*s = '\0';
			if (mkdir(buf, 0755) != 0 && errno != EEXIST)
				return err_set(e, "%s: %s", buf,
				    strerror(errno));
			*s = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/* The template directory beside the binary: BIN/../templates. */
static char *
default_templates(void)
{
	char	 exe[PATH_MAX], *s, *out = NULL;
	ssize_t	 n;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return strdup("templates");
	exe[n] = '\0';
	if ((s = strrchr(exe, '/')) != NULL)
		*s = '\0';
	if ((s = strrchr(exe, '/')) != NULL)
		*s = '\0';
	if (asprintf(&out, "%s/templates", exe) < 0)
		return NULL;
	return out;
}

static int
load_template(struct pub_web *w, struct err *e)
{
	char	 path[PATH_MAX], *src = NULL;
	FILE	*f;
	long	 n;
	int	 rc = -1;

	snprintf(path, sizeof(path), "%s/%s.html", w->templates,
	    INDEX_TEMPLATE);
	if ((f = fopen(path, "r")) == NULL)
		return err_set(e, "%s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    n > 1 << 20 || fseek(f, 0, SEEK_SET) != 0) {
		err_set(e, "%s: unreadable or too large", path);
		goto out;
	}
	if ((src = malloc((size_t)n + 1)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (fread(src, 1, (size_t)n, f) != (size_t)n) {
		err_set(e, "%s: short read", path);
		goto out;
	}
	src[n] = '\0';
	if ((w->tc = tmpl_cache_new()) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (tmpl_cache_add(w->tc, INDEX_TEMPLATE, src, (size_t)n, e) != 0)
		goto out;
	rc = 0;
out:
	free(src);
	fclose(f);
	return rc;
}

int
pub_web_ready(struct pub_web *w, const struct config *cfg, struct err *e)
{
	char	*p, sub[PATH_MAX];

	if (w->root == NULL || *w->root == '\0')
		return err_set(e, "[publish.%s] needs root", w->name);
	if ((p = config_path(cfg, w->root)) == NULL)
		return err_set(e, "out of memory");
	free(w->root);
	w->root = p;
	if (w->templates != NULL)
		p = config_path(cfg, w->templates);
	else
		p = default_templates();
	if (p == NULL)
		return err_set(e, "out of memory");
	free(w->templates);
	w->templates = p;
	if (w->crl_path == NULL &&
	    (w->crl_path = crl_path_of(cfg->crl_url)) == NULL)
		return err_set(e, "[publish.%s]: cannot derive a path inside "
		    "the root from crl_url %s; set crl_path", w->name,
		    cfg->crl_url);
	w->ca_name = cfg->ca_name;
	snprintf(sub, sizeof(sub), "%s/by-mail", w->root);
	if (mkdirs(sub, e) != 0)
		return -1;
	snprintf(sub, sizeof(sub), "%s/%s", w->root, w->crl_path);
	if ((p = strrchr(sub, '/')) != NULL)
		*p = '\0';
	if (mkdirs(sub, e) != 0)
		return -1;
	if (load_template(w, e) != 0)
		return err_wrap(e, "[publish.%s]", w->name);
	return 0;
}

static int
sync_dir_of(const char *path, struct err *e)
{
	char	 dir[PATH_MAX], *s;
	int	 fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((s = strrchr(dir, '/')) != NULL)
		*s = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return err_set(e, "%s: %s", dir, strerror(errno));
	if (fsync(fd) != 0)
		rc = err_set(e, "%s: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

/* Temp file beside path, fsync, rename over path, fsync the directory. */
static int
write_atomic(const char *path, const void *buf, size_t len, struct err *e)
{
	char	 tmp[PATH_MAX];
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return err_set(e, "%s: path too long", path);
	unlink(tmp);	/* a leftover of a crashed run of this pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1)
		return err_set(e, "%s: %s", tmp, strerror(errno));
	while (off < len) {
		if ((n = write(fd, (const char *)buf + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return sync_dir_of(path, e);
fail:
	err_set(e, "%s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

static int
remove_file(const char *path, struct err *e)
{
	if (unlink(path) != 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, "%s: %s", path, strerror(errno));
	}
	return sync_dir_of(path, e);
}

/* The mailbox as a file name: lower-case, one path component. */
static int
mail_file(const struct pub_web *w, const char *email, char *out, size_t sz,
    struct err *e)
{
	char	 lc[256];
	size_t	 i, n = strlen(email);

	if (n == 0 || n >= sizeof(lc) || email[0] == '.')
		return err_set(e, "mailbox %s cannot name a file", email);
	for (i = 0; i <= n; i++) {
		if (email[i] == '/' || (email[i] != '\0' &&
		    !isgraph((unsigned char)email[i])))
			return err_set(e, "mailbox %s cannot name a file",
			    email);
		lc[i] = (char)tolower((unsigned char)email[i]);
	}
	if (snprintf(out, sz, "%s/by-mail/%s.p7c", w->root, lc) >= (int)sz)
		return err_set(e, "%s: path too long", lc);
	return 0;
}

int
pub_web_cert(struct pub_web *w, const struct pub_cert *c, struct err *e)
{
	char	path[PATH_MAX];

	if (strspn(c->serial, "0123456789abcdef") != strlen(c->serial) ||
	    *c->serial == '\0')
		return err_set(e, "serial %s is not lower-case hex", c->serial);
	snprintf(path, sizeof(path), "%s/%s.cer", w->root, c->serial);
	if (c->valid && c->der->size > 0) {
		if (write_atomic(path, c->der->data, c->der->size, e) != 0)
			return -1;
	} else if (remove_file(path, e) != 0)
		return -1;
	if (mail_file(w, c->email, path, sizeof(path), e) != 0)
		return -1;
	if (c->p7->size > 0)
		return write_atomic(path, c->p7->data, c->p7->size, e);
	return remove_file(path, e);
}

int
pub_web_ca(struct pub_web *w, const struct pub_ca *c, struct err *e)
{
	char	path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/ca.cer", w->root);
	if (write_atomic(path, c->cert->data, c->cert->size, e) != 0)
		return -1;
	if (c->crl->size == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", w->root, w->crl_path);
	return write_atomic(path, c->crl->data, c->crl->size, e);
}

struct index_arg {
	struct tmpl_data	*d;
	time_t			 now;
	unsigned		 n;
	struct err		*e;
};

/* RFC 3986 2.3: unreserved characters and '@' travel as they are. */
static void
url_encode(const char *s, char *out, size_t sz)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 o = 0;

	for (; *s != '\0' && o + 4 < sz; s++) {
		unsigned char	c = (unsigned char)tolower((unsigned char)*s);

		if (isalnum(c) || strchr("-._~@", c) != NULL)
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static int
index_row(void *arg, const struct cert_row *r)
{
	struct index_arg	*a = arg;
	struct tmpl_data	*row;
	char			 when[32], url[800];
	struct tm		 tm;

	if (r->revoked_at != 0 || r->not_after < a->now ||
	    r->not_before > a->now)
		return 0;
	gmtime_r(&r->not_after, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	url_encode(r->email, url, sizeof(url));
	if ((row = tmpl_data_add_row(a->d, "certs", a->e)) == NULL ||
	    tmpl_data_set(row, "email", r->email, a->e) != 0 ||
	    tmpl_data_set(row, "name", r->display_name, a->e) != 0 ||
	    tmpl_data_set(row, "serial", r->serial, a->e) != 0 ||
	    tmpl_data_set(row, "not_after", when, a->e) != 0 ||
	    tmpl_data_set(row, "mail_url", url, a->e) != 0)
		return -1;
	a->n++;
	return 0;
}

int
pub_web_index(struct pub_web *w, struct store *st, struct err *e)
{
	struct index_arg	 a;
	char			 path[PATH_MAX], num[16], when[32], *html = NULL;
	struct tm		 tm;
	size_t			 len;
	int			 rc = -1;

	memset(&a, 0, sizeof(a));
	a.now = time(NULL);
	a.e = e;
	if ((a.d = tmpl_data_new()) == NULL)
		return err_set(e, "out of memory");
	if (store_cert_list(st, NULL, index_row, &a, e) != 0)
		goto out;
	gmtime_r(&a.now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(num, sizeof(num), "%u", a.n);
	if (tmpl_data_set(a.d, "ca_name", w->ca_name, e) != 0 ||
	    tmpl_data_set(a.d, "crl_path", w->crl_path, e) != 0 ||
	    tmpl_data_set(a.d, "count", num, e) != 0 ||
	    tmpl_data_set(a.d, "updated", when, e) != 0 ||
	    tmpl_data_set(a.d, "has_certs", a.n > 0 ? "yes" : NULL, e) != 0)
		goto out;
	if ((html = tmpl_render(w->tc, INDEX_TEMPLATE, a.d, &len, e)) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/index.html", w->root);
	rc = write_atomic(path, html, len, e);
out:
	free(html);
	tmpl_data_free(a.d);
	return rc;
}
