/*
 * test_log.c - the logger's two line formats: timestamps on a terminal or
 * file, sd-daemon "<N>" priority prefixes when stderr is the journal
 * stream named by $JOURNAL_STREAM.
 *
 * stderr is redirected to a temp file in each test (Criterion runs every
 * test in its own process), and the file's device and inode stand in for
 * the journal's stream.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Point stderr at a fresh temp file; its path goes to path. */
static void stderr_to_file(char *path, size_t len)
{
	int fd;

	snprintf(path, len, "/tmp/memdt-log-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

/* Set $JOURNAL_STREAM to the dev:ino of stderr. */
static void journal_is_stderr(void)
{
	char v[64];
	struct stat st;

	cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(v, sizeof(v), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
}

/* Read the whole file into buf and remove it. */
static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
}

Test(log, journal_stream_on_stderr_gives_sd_daemon_prefixes)
{
	char path[64], buf[512];

	stderr_to_file(path, sizeof(path));
	journal_is_stderr();
	cr_assert_eq(log_detect_journal(), LOG_FORMAT_JOURNAL);
	log_set_level(MEMD_LOG_DEBUG);
	log_error("e %d", 1);
	log_warn("w");
	log_info("i");
	log_debug("d\n");
	slurp(path, buf, sizeof(buf));
	cr_assert_str_eq(buf, "<3>e 1\n<4>w\n<6>i\n<7>d\n");
}

Test(log, plain_lines_carry_a_timestamp_ident_pid_and_level)
{
	char path[64], buf[512], want[64];

	stderr_to_file(path, sizeof(path));
	unsetenv("JOURNAL_STREAM");
	cr_assert_eq(log_detect_journal(), LOG_FORMAT_PLAIN);
	log_warn("hello");
	slurp(path, buf, sizeof(buf));
	snprintf(want, sizeof(want), " memd[%d] warn: hello\n", (int)getpid());
	cr_assert(buf[0] == '2' && buf[4] == '-' && buf[10] == 'T' && buf[23] == 'Z', "%s", buf);
	cr_assert(strstr(buf, want) != NULL, "%s", buf);
}

Test(log, journal_stream_of_another_file_keeps_timestamps)
{
	char path[64];

	stderr_to_file(path, sizeof(path));
	setenv("JOURNAL_STREAM", "1:2", 1);
	cr_expect_eq(log_detect_journal(), LOG_FORMAT_PLAIN);
	setenv("JOURNAL_STREAM", "garbage", 1);
	cr_expect_eq(log_detect_journal(), LOG_FORMAT_PLAIN);
	journal_is_stderr();
	cr_expect_eq(log_detect_journal(), LOG_FORMAT_JOURNAL);
	log_set_format(LOG_FORMAT_PLAIN);
	cr_expect_eq(log_get_format(), LOG_FORMAT_PLAIN);
	unlink(path);
}
