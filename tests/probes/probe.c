/*
 * probe: what an attacker inside a container tries, as one static binary the security tests
 * (tests/security.rs) bind-mount into busybox containers. Each command prints one line of
 * key=value results for the test to check; none of them changes anything outside the
 * container by itself.
 *
 *   probe swap DIR LINK          swap DIR and LINK with renameat2(RENAME_EXCHANGE) forever
 *   probe exe PATH               open PATH (a /proc/PID/exe) and report what the handle allows
 *   probe exe-race SECONDS       watch for other processes whose exe is not busybox (the
 *                                runtime before its execve) and try to open and ptrace them
 *   probe ping                   an unprivileged ICMP echo to 127.0.0.1 (datagram socket)
 *   probe fds                    the descriptors this process holds above stdio
 *   probe euid                   the effective uid (run setuid to see whose it is)
 *   probe syscalls               errno of calls the default profile refuses (0: allowed)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int swap(const char *a, const char *b) {
	for (;;) {
		if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0) {
			printf("swap=failed errno=%d\n", errno);
			return 1;
		}
	}
}

static int exe(const char *path) {
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		printf("open=denied errno=%d\n", errno);
		return 0;
	}
	struct statvfs vfs;
	int rdonly = fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
	struct stat st;
	fstat(fd, &st);
	char buf[4] = {0};
	int rfd = open(path, O_RDONLY | O_CLOEXEC);
	int readable = rfd >= 0 && read(rfd, buf, 4) == 4 && memcmp(buf, "\177ELF", 4) == 0;
	int wfd = open(path, O_WRONLY | O_CLOEXEC);
	int werr = wfd < 0 ? errno : 0;
	printf("open=ok rdonly=%d readable=%d write_errno=%d dev=%lu ino=%lu\n", rdonly, readable,
	       werr, (unsigned long)st.st_dev, (unsigned long)st.st_ino);
	return 0;
}

/* Whether /proc/PID/exe of another process is something other than the container's own
 * programs (busybox and this probe). */
static int foreign_exe(const char *pid, char *target, size_t len) {
	char link[300];
	snprintf(link, sizeof link, "/proc/%s/exe", pid);
	ssize_t n = readlink(link, target, len - 1);
	if (n < 0) {
		/* Unreadable: either gone or non-dumpable; both count as "seen" by the caller. */
		target[0] = 0;
		return errno == EACCES ? 2 : 0;
	}
	target[n] = 0;
	return strstr(target, "busybox") == NULL && strstr(target, "probe") == NULL;
}

static int exe_race(int seconds) {
	time_t end = time(NULL) + seconds;
	long seen = 0, denied = 0, opened = 0, traced = 0;
	pid_t self = getpid();
	while (time(NULL) < end) {
		DIR *d = opendir("/proc");
		if (!d)
			return 1;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			pid_t pid = atoi(e->d_name);
			if (pid == self || pid == 1)
				continue;
			char target[512];
			int kind = foreign_exe(e->d_name, target, sizeof target);
			if (kind == 0)
				continue;
			seen++;
			if (kind == 2) {
				denied++;
				continue;
			}
			char link[300];
			snprintf(link, sizeof link, "/proc/%s/exe", e->d_name);
			int fd = open(link, O_PATH | O_CLOEXEC);
			if (fd >= 0) {
				opened++;
				close(fd);
			} else if (errno == EACCES || errno == EPERM) {
				denied++;
			}
			if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0) {
				traced++;
				ptrace(PTRACE_DETACH, pid, 0, 0);
			}
		}
		closedir(d);
	}
	printf("seen=%ld denied=%ld opened=%ld traced=%ld\n", seen, denied, opened, traced);
	return 0;
}

static int ping(void) {
	int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	if (s < 0) {
		printf("ping=socket-failed errno=%d\n", errno);
		return 1;
	}
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct icmphdr req = {.type = ICMP_ECHO, .un.echo.sequence = htons(1)};
	if (sendto(s, &req, sizeof req, 0, (struct sockaddr *)&to, sizeof to) < 0) {
		printf("ping=send-failed errno=%d\n", errno);
		return 1;
	}
	struct timeval tv = {.tv_sec = 2};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct icmphdr rep;
	if (recv(s, &rep, sizeof rep, 0) < (ssize_t)sizeof rep || rep.type != ICMP_ECHOREPLY) {
		printf("ping=no-reply errno=%d\n", errno);
		return 1;
	}
	printf("ping=pong\n");
	return 0;
}

static int fds(void) {
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 1;
	int own = dirfd(d);
	printf("fds=");
	struct dirent *e;
	int first = 1;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		int fd = atoi(e->d_name);
		if (fd <= 2 || fd == own)
			continue;
		char link[300], target[512];
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof target - 1);
		target[n > 0 ? n : 0] = 0;
		printf("%s%d:%s", first ? "" : ",", fd, target);
		first = 0;
	}
	printf("\n");
	closedir(d);
	return 0;
}

static int syscalls(void) {
	long uring_params[30] = {0};
	errno = 0;
	long r = syscall(SYS_io_uring_setup, 1, uring_params);
	int uring = r < 0 ? errno : 0;
	int vsock = socket(40 /* AF_VSOCK */, SOCK_STREAM, 0) < 0 ? errno : 0;
	int userns = syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */) < 0 ? errno : 0;
	int mnt = syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, 0) < 0 ? errno : 0;
	int bpf = syscall(SYS_bpf, 0, 0, 0) < 0 ? errno : 0;
	int keyctl = syscall(SYS_keyctl, 0, 0, 0, 0, 0) < 0 ? errno : 0;
	int module = syscall(SYS_init_module, 0, 0, "") < 0 ? errno : 0;
	printf("io_uring=%d vsock=%d unshare_user=%d mount=%d bpf=%d keyctl=%d init_module=%d\n", uring,
	       vsock, userns, mnt, bpf, keyctl, module);
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 4 && strcmp(argv[1], "swap") == 0)
		return swap(argv[2], argv[3]);
	if (argc >= 3 && strcmp(argv[1], "exe") == 0)
		return exe(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "exe-race") == 0)
		return exe_race(atoi(argv[2]));
	if (argc >= 2 && strcmp(argv[1], "ping") == 0)
		return ping();
	if (argc >= 2 && strcmp(argv[1], "fds") == 0)
		return fds();
	if (argc >= 2 && strcmp(argv[1], "euid") == 0) {
		printf("euid=%d\n", (int)geteuid());
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "syscalls") == 0)
		return syscalls();
	fprintf(stderr, "usage: probe swap|exe|exe-race|ping|fds|euid|syscalls ...\n");
	return 2;
}
