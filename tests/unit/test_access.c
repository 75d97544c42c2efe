/*
 * test_access.c - access lists (daemon/access.c): parsing, matching by
 * uid, gid and supplementary groups, pool access rules, admin.
 */
#include "access.h"
#include "config.h"
#include "proto.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

static struct access_list parse_ok(const char *s)
{
	struct access_list l;
	char why[200] = "";

	cr_assert_eq(access_list_parse(s, &l, why, sizeof(why)), 0, "'%s': %s", s, why);
	return l;
}

static void parse_bad(const char *s, const char *want)
{
	struct access_list l;
	char why[200] = "";

	cr_assert_eq(access_list_parse(s, &l, why, sizeof(why)), -EINVAL, "'%s' accepted", s);
	cr_expect(strstr(why, want) != NULL, "'%s': '%s' lacks '%s'", s, why, want);
}

Test(access, entries_parse_with_commas_or_blanks_between_them)
{
	struct access_list l = parse_ok(" uid:7,gid:8  user:root ,group:root *");

	cr_assert(l.set);
	cr_assert_eq(l.count, 5);
	cr_expect_eq(l.e[0].kind, ACCESS_UID);
	cr_expect_eq(l.e[0].id, 7);
	cr_expect_eq(l.e[1].kind, ACCESS_GID);
	cr_expect_eq(l.e[1].id, 8);
	cr_expect_eq(l.e[2].kind, ACCESS_UID);
	cr_expect_eq(l.e[2].id, 0);
	cr_expect_eq(l.e[3].kind, ACCESS_GID);
	cr_expect_eq(l.e[3].id, 0);
	cr_expect_eq(l.e[4].kind, ACCESS_ANY);
}

Test(access, an_empty_list_is_set_and_matches_nobody)
{
	struct access_list l = parse_ok("  ");

	cr_assert(l.set);
	cr_assert_eq(l.count, 0);
	cr_expect_not(access_list_match(&l, 0, 0));
}

Test(access, bad_entries_are_refused_with_a_reason)
{
	parse_bad("uid:", "bad entry 'uid:'");
	parse_bad("uid:x", "bad entry");
	parse_bad("uid:-1", "bad entry");
	parse_bad("uid:4294967295", "bad entry");
	parse_bad("gid:1x", "bad entry");
	parse_bad("root", "bad entry 'root'");
	parse_bad("**", "bad entry");
	parse_bad("user:", "bad entry");
	parse_bad("user:no_such_user_memd", "unknown user 'no_such_user_memd'");
	parse_bad("group:no_such_group_memd", "unknown group");
	parse_bad("* * * * * * * * * * * * * * * * * * * * * * * * * * * * * * * * *",
	          "more than 32 entries");
}

Test(access, uid_gid_and_star_entries_match_what_they_name)
{
	struct access_list u = parse_ok("uid:1000");
	struct access_list g = parse_ok("gid:77");
	struct access_list any = parse_ok("*");

	cr_expect(access_list_match(&u, 1000, 5));
	cr_expect_not(access_list_match(&u, 1001, 5));
	cr_expect(access_list_match(&g, 4321, 77));
	cr_expect_not(access_list_match(&g, 4321, 78));
	cr_expect(access_list_match(&any, 4321, 78));
}

Test(access, group_entries_also_match_the_users_supplementary_groups)
{
	/* root's passwd entry has primary group 0, which getgrouplist always
	 * returns: a peer uid 0 whose SO_PEERCRED gid is something else
	 * still matches gid:0 through the group database. */
	struct access_list g = parse_ok("gid:0");

	cr_expect(access_list_match(&g, 0, 12345));
	/* A uid without a passwd entry has only its own gid. */
	cr_expect_not(access_list_match(&g, 54321, 12345));
}

Test(access, pools_without_lists_are_open_and_with_lists_closed_but_for_them)
{
	const uint32_t rw = MEMD_ACCESS_READ | MEMD_ACCESS_WRITE;
	struct memd_pool_config pc;

	memset(&pc, 0, sizeof(pc));
	cr_expect_eq(access_pool(&pc, 999, 1000, 1000), rw);
	pc.read = parse_ok("uid:1000");
	cr_expect_eq(access_pool(&pc, 999, 1000, 1000), MEMD_ACCESS_READ);
	cr_expect_eq(access_pool(&pc, 999, 1001, 1001), 0, "no write list: nobody writes");
	pc.write = parse_ok("uid:1001");
	cr_expect_eq(access_pool(&pc, 999, 1001, 1001), rw, "write implies read");
	cr_expect_eq(access_pool(&pc, 999, 0, 0), rw, "root");
	cr_expect_eq(access_pool(&pc, 999, 999, 5), rw, "the daemon's euid");
	cr_expect_eq(access_pool(&pc, 999, 1002, 1002), 0);
}

Test(access, admins_are_root_the_daemon_and_the_admin_list)
{
	struct memd_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cr_expect(access_is_admin(&cfg, 0, 0));
	cr_expect(access_is_admin(&cfg, geteuid(), 0));
	cr_expect_not(access_is_admin(&cfg, 4000, 4000));
	cfg.admin = parse_ok("uid:4000 gid:50");
	cr_expect(access_is_admin(&cfg, 4000, 4000));
	cr_expect(access_is_admin(&cfg, 4001, 50));
	cr_expect_not(access_is_admin(&cfg, 4001, 51));
}
