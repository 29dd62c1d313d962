#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <libpq-fe.h>

#include "pgctl.h"

#define PG_USER	"postgres"

/* The newest installed server's bin directory. */
static int
bindir(char *out, size_t len, struct err *e)
{
	glob_t	g;
	int	rc = -1;

	if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) != 0 ||
	    g.gl_pathc == 0) {
		err_set(e, "PostgreSQL server not found under "
		    "/usr/lib/postgresql: run `make deps` (scripts/install-deps.sh)");
		goto out;
	}
	/* glob sorts; the last is the highest version for equal digit counts */
	snprintf(out, len, "%s", g.gl_pathv[g.gl_pathc - 1]);
	*strrchr(out, '/') = '\0';
	rc = 0;
out:
	globfree(&g);
	return rc;
}

/* home/pg, or where its symbolic link points (see pgdir) */
static void
pg_root(const char *home, char *out, size_t len)
{
	char		 link[PATH_MAX], real[PATH_MAX];
	struct stat	 st;

	snprintf(link, sizeof(link), "%s/pg", home);
	if (lstat(link, &st) == 0 && S_ISLNK(st.st_mode) &&
	    realpath(link, real) != NULL)
		snprintf(out, len, "%s", real);
	else
		snprintf(out, len, "%s", link);
}

/*
 * Unix socket paths are limited to 107 bytes (sun_path), so a deep instance
 * directory gets its socket in a short per-instance directory under /tmp.
 */
static void
socket_dir(const char *home, char *out, size_t len)
{
	unsigned char	h[32];
	char		root[PATH_MAX];

	pg_root(home, root, sizeof(root));
	if (strlen(root) + sizeof("/run/.s.PGSQL.5432") < 100) {
		snprintf(out, len, "%s/run", root);
		return;
	}
	gnutls_hash_fast(GNUTLS_DIG_SHA256, home, strlen(home), h);
	snprintf(out, len, "/tmp/signet-pg-%02x%02x%02x%02x%02x%02x",
	    h[0], h[1], h[2], h[3], h[4], h[5]);
}

char *
pgctl_conninfo(const char *home)
{
	char	 dir[PATH_MAX], *s;

	socket_dir(home, dir, sizeof(dir));
	if (asprintf(&s, "host=%s dbname=signet user=signet", dir) < 0)
		return NULL;
	return s;
}

static int
as_root(void)
{
	return geteuid() == 0;
}

/*
 * Runs argv (no shell), as postgres when we are root. Output to logfd.
 *
 * The program gets none of the caller's environment: the server it starts
 * would keep it for its life, readable by the postgres account in
 * /proc/PID/environ -- and the caller may hold the CA key's passphrase
 * there ([ca] secret_env). Only PATH, and TZ when set (initdb takes the
 * cluster's time zone from it).
 */
static int
run(char *const argv[], int logfd, struct err *e)
{
	const char	*tz = getenv("TZ");
	char		 tzv[128];
	char		*env[3] = { "PATH=/usr/bin:/bin", NULL, NULL };
	pid_t		 pid;
	int		 status;

	if (tz != NULL && strlen(tz) < sizeof(tzv) - 3) {
		snprintf(tzv, sizeof(tzv), "TZ=%s", tz);
		env[1] = tzv;
	}

	pid = fork();
	if (pid == -1)
		return err_set(e, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (logfd != -1) {
			dup2(logfd, 1);
			dup2(logfd, 2);
		}
		if (as_root()) {
			struct passwd *pw = getpwnam(PG_USER);
			if (pw == NULL || setgid(pw->pw_gid) != 0 ||
			    initgroups(PG_USER, pw->pw_gid) != 0 ||
			    setuid(pw->pw_uid) != 0)
				_exit(126);
		}
		/* a daemon must not hold the caller's descriptors open */
		closefrom(3);
		execve(argv[0], argv, env);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return err_set(e, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(e, "%s failed (exit %d)", argv[0],
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

/* chown a path to postgres when we are root */
static int
give(const char *path, struct err *e)
{
	struct passwd	*pw;

	if (!as_root())
		return 0;
	if ((pw = getpwnam(PG_USER)) == NULL)
		return err_set(e, "no `%s` user: is PostgreSQL installed?",
		    PG_USER);
	if (chown(path, pw->pw_uid, pw->pw_gid) != 0)
		return err_set(e, "chown %s: %s", path, strerror(errno));
	return 0;
}

/* Can the postgres user reach dir? (It must traverse every parent.) */
static int
reachable(const char *dir)
{
	pid_t	pid;
	int	status;

	if (!as_root())
		return 1;
	if ((pid = fork()) == -1)
		return 0;
	if (pid == 0) {
		struct passwd *pw = getpwnam(PG_USER);
		if (pw == NULL || setgid(pw->pw_gid) != 0 ||
		    setuid(pw->pw_uid) != 0)
			_exit(1);
		_exit(access(dir, X_OK) == 0 ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) == -1)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int
mkdir_for_pg(const char *path, mode_t mode, struct err *e)
{
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return err_set(e, "mkdir %s: %s", path, strerror(errno));
	if (chmod(path, mode) != 0)
		return err_set(e, "chmod %s: %s", path, strerror(errno));
	return give(path, e);
}

/*
 * home/pg holds data/, run/ and the log. When the postgres user cannot
 * traverse to home (a 0700 parent such as /root), the cluster lives in
 * /var/tmp/signet-pg-<hash> and home/pg is a symbolic link to it.
 */
static void
outside(const char *home, char *out, size_t len)
{
	unsigned char	h[32];

	gnutls_hash_fast(GNUTLS_DIG_SHA256, home, strlen(home), h);
	snprintf(out, len, "/var/tmp/signet-pg-%02x%02x%02x%02x%02x%02x",
	    h[0], h[1], h[2], h[3], h[4], h[5]);
}

static int
pgdir(const char *home, char *out, size_t len, struct err *e)
{
	char		 real[PATH_MAX];
	struct stat	 st;

	snprintf(out, len, "%s/pg", home);
	if (lstat(out, &st) == 0) {
		if (S_ISLNK(st.st_mode) && realpath(out, real) != NULL)
			snprintf(out, len, "%s", real);
		return 0;
	}
	if (reachable(home))
		return mkdir_for_pg(out, 0711, e);
	outside(home, real, sizeof(real));
	if (mkdir_for_pg(real, 0711, e) != 0)
		return -1;
	if (symlink(real, out) != 0)
		return err_set(e, "symlink %s: %s", out, strerror(errno));
	snprintf(out, len, "%s", real);
	return 0;
}

int
pgctl_unused(const char *home, struct err *e)
{
	char		 dir[PATH_MAX];
	struct stat	 st;

	snprintf(dir, sizeof(dir), "%s/pg", home);
	if (lstat(dir, &st) == 0)
		return err_set(e, "%s already exists: a new instance starts "
		    "with a database of its own; remove it first", dir);
	if (reachable(home))
		return 0;
	outside(home, dir, sizeof(dir));
	if (lstat(dir, &st) == 0)
		return err_set(e, "%s holds the database of an earlier instance "
		    "at %s, removed without `signet stop` (its server may "
		    "still run); a new instance does not take it over. Stop "
		    "that server (as postgres: pg_ctl -D %s/data stop) and "
		    "remove the directory", dir, home, dir);
	return 0;
}

static int
write_conf(const char *data, const char *sock, struct err *e)
{
	char	 path[PATH_MAX];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/postgresql.auto.conf", data);
	if ((f = fopen(path, "a")) == NULL)
		return err_set(e, "%s: %s", path, strerror(errno));
	fprintf(f,
	    "# written by signet: a private, socket-only cluster\n"
	    "listen_addresses = ''\n"
	    "unix_socket_directories = '%s'\n"
	    "unix_socket_permissions = 0700\n"
	    "fsync = on\n"
	    "synchronous_commit = on\n"
	    "max_connections = 200\n"
	    "shared_buffers = '128MB'\n"
	    "wal_buffers = '16MB'\n"
	    "max_wal_size = '1GB'\n"
	    "log_min_messages = warning\n", sock);
	if (fclose(f) != 0)
		return err_set(e, "%s: %s", path, strerror(errno));
	return 0;
}

static int
create_db(const char *home, struct err *e)
{
	char		 dir[PATH_MAX], ci[PATH_MAX + 64];
	PGconn		*c;
	PGresult	*r;
	int		 rc = -1;

	socket_dir(home, dir, sizeof(dir));
	snprintf(ci, sizeof(ci), "host=%s dbname=postgres user=signet", dir);
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		err_set(e, "connecting to the private cluster: %s",
		    PQerrorMessage(c));
		goto out;
	}
	r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = 'signet'");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		rc = 0;
	PQclear(r);
	if (rc == 0)
		goto out;
	r = PQexec(c, "CREATE DATABASE signet");
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		rc = 0;
	else
		err_set(e, "CREATE DATABASE: %s", PQerrorMessage(c));
	PQclear(r);
out:
	PQfinish(c);
	return rc;
}

int
pgctl_running(const char *home)
{
	char	 pid[PATH_MAX];

	char	 root[PATH_MAX];

	pg_root(home, root, sizeof(root));
	snprintf(pid, sizeof(pid), "%s/data/postmaster.pid", root);
	if (access(pid, F_OK) != 0)
		return 0;
	{
		char	 bin[PATH_MAX], exe[PATH_MAX], data[PATH_MAX];
		char	*argv[] = { exe, "-D", data, "status", NULL };
		int	 devnull = open("/dev/null", O_WRONLY);
		int	 rc;

		if (bindir(bin, sizeof(bin), NULL) != 0) {
			close(devnull);
			return 0;
		}
		snprintf(exe, sizeof(exe), "%s/pg_ctl", bin);
		snprintf(data, sizeof(data), "%s/data", root);
		rc = run(argv, devnull, NULL);
		close(devnull);
		return rc == 0;
	}
}

int
pgctl_start(const char *home, struct err *e)
{
	char	 bin[PATH_MAX], pg[PATH_MAX], data[PATH_MAX], sock[PATH_MAX];
	char	 exe[PATH_MAX], log[PATH_MAX], ver[PATH_MAX];
	int	 logfd = -1, rc = -1;

	if (bindir(bin, sizeof(bin), e) != 0)
		return -1;
	if (pgdir(home, pg, sizeof(pg), e) != 0)
		return -1;
	snprintf(data, sizeof(data), "%s/data", pg);
	snprintf(log, sizeof(log), "%s/postgresql.log", pg);
	socket_dir(home, sock, sizeof(sock));
	if (mkdir_for_pg(sock, 0700, e) != 0)
		return -1;
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (logfd == -1 || give(log, e) != 0) {
		if (logfd == -1)
			err_set(e, "%s: %s", log, strerror(errno));
		goto out;
	}

	snprintf(ver, sizeof(ver), "%s/PG_VERSION", data);
	if (access(ver, F_OK) != 0) {
		char *argv[] = { exe, "-D", data, "-U", "signet", "-A", "trust",
		    "-E", "UTF8", "--no-locale", "--no-sync", NULL };

		if (mkdir_for_pg(data, 0700, e) != 0)
			goto out;
		snprintf(exe, sizeof(exe), "%s/initdb", bin);
		if (run(argv, logfd, e) != 0) {
			err_wrap(e, "initdb (see %s)", log);
			goto out;
		}
		if (write_conf(data, sock, e) != 0)
			goto out;
		sync();
	}
	if (!pgctl_running(home)) {
		char *argv[] = { exe, "-D", data, "-l", log, "-w", "-t", "60",
		    "start", NULL };

		snprintf(exe, sizeof(exe), "%s/pg_ctl", bin);
		if (run(argv, logfd, e) != 0) {
			err_wrap(e, "starting PostgreSQL (see %s)", log);
			goto out;
		}
	}
	rc = create_db(home, e);
out:
	if (logfd != -1)
		close(logfd);
	return rc;
}

int
pgctl_stop(const char *home, struct err *e)
{
	char	 bin[PATH_MAX], exe[PATH_MAX], data[PATH_MAX], root[PATH_MAX];
	char	*argv[] = { exe, "-D", data, "-m", "fast", "-w", "stop", NULL };
	int	 devnull;
	int	 rc;

	if (!pgctl_running(home))
		return 0;
	if (bindir(bin, sizeof(bin), e) != 0)
		return -1;
	snprintf(exe, sizeof(exe), "%s/pg_ctl", bin);
	pg_root(home, root, sizeof(root));
	snprintf(data, sizeof(data), "%s/data", root);
	devnull = open("/dev/null", O_WRONLY);
	rc = run(argv, devnull, e);
	close(devnull);
	return rc;
}
