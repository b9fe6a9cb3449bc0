/*
 * A per-session process limit for programs in a learner's gVisor sandbox, preloaded into every process there
 * (LD_PRELOAD). gVisor ignores RLIMIT_NPROC, and when a container reaches Docker's pids limit the whole sandbox
 * dies: a shell fork bomb (`:(){ :|:& };:`) from a notebook cell or a terminal would take the learner's Jupyter
 * server with it, faster than any watchdog can act. So fork() here first counts the live processes of the
 * caller's session (each kernel and each terminal is a session of its own) and, at $STUDIO_SESSION_PROCESS_LIMIT,
 * fails with EAGAIN, which is what Linux does at RLIMIT_NPROC: bash says "fork: retry: Resource temporarily
 * unavailable", and the bomb stays at the limit and dies out.
 *
 * The check and the fork are serialised per session by a flock, so copies forking at the same moment cannot all
 * pass the check. Only fork() through the dynamic linker is covered (bash, Python's subprocess, most programs); a
 * static binary or a raw clone() gets past it and meets the container's pids limit, which ends only this
 * learner's own sandbox. Without $STUDIO_SESSION_PROCESS_LIMIT, fork() is untouched.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

typedef pid_t (*fork_fn)(void);

/* Live (not zombie) processes whose session is `sid`, from /proc/<pid>/stat. */
static int session_processes(pid_t sid) {
    DIR *proc = opendir("/proc");
    if (!proc) return -1;
    int count = 0;
    struct dirent *entry;
    char path[300], stat[512];
    while ((entry = readdir(proc))) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, stat, sizeof stat - 1);
        close(fd);
        if (n <= 0) continue;
        stat[n] = '\0';
        /* The command name may hold spaces and parentheses: fields start after its last ')'. */
        char *rest = strrchr(stat, ')');
        char state;
        int ppid, pgrp, session;
        if (!rest || sscanf(rest + 2, "%c %d %d %d", &state, &ppid, &pgrp, &session) != 4) continue;
        if (session == sid && state != 'Z' && state != 'X') count++;
    }
    closedir(proc);
    return count;
}

/* The session's fork lock, taken within about a second (never hang a program on a lock left behind). */
static int lock_session(pid_t sid) {
    char path[96];
    snprintf(path, sizeof path, "/tmp/.studio-fork-guard-%d-%d", (int)getuid(), (int)sid);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    struct timespec pause = {0, 1000000};
    for (int tries = 0; tries < 1000; tries++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
        nanosleep(&pause, NULL);
    }
    return fd; /* unserialised rather than stuck */
}

pid_t fork(void) {
    static fork_fn real_fork;
    if (!real_fork) real_fork = (fork_fn)dlsym(RTLD_NEXT, "fork");
    const char *setting = getenv("STUDIO_SESSION_PROCESS_LIMIT");
    int limit = setting ? atoi(setting) : 0;
    if (limit <= 0) return real_fork();

    pid_t sid = getsid(0);
    int lock = lock_session(sid);
    int count = session_processes(sid);
    if (count >= limit) {
        if (lock >= 0) close(lock);
        errno = EAGAIN;
        return -1;
    }
    pid_t pid = real_fork();
    int saved = errno;
    if (lock >= 0) {
        if (pid != 0) flock(lock, LOCK_UN); /* the parent releases; the child only drops its copy */
        close(lock);
    }
    errno = saved;
    return pid;
}
