/*
 * migrations: the numbered schema changes in sql/, embedded at build time
 * (scripts/embed-sql.sh) and applied in order by store_migrate.
 */
#ifndef SIGNET_MIGRATIONS_H
#define SIGNET_MIGRATIONS_H

struct migration {
	int		 version;
	const char	*name;
	const char	*sql;
};

extern const struct migration	migrations[];
extern const unsigned		migrations_count;

#endif
