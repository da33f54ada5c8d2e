/*
 * cli_model.c - models in SDFS (design section 5):
 *
 *   model put NAME FILE   `engine check` first (the engine beside this
 *                         program, or $IDUNNO_ENGINE), then the file as
 *                         models/NAME.safetensors and, after it, its
 *                         description models/NAME.meta:
 *                         "idunno-model-1 VERSION ARCH TENSORS BYTES\n"
 *   model ls              the models, their versions, sizes, architectures
 *
 * Both also print JSON with --json.
 */
#include "cli/cli.h"
#include "cli/sdfs_cli.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODEL_META_MAGIC "idunno-model-1"

extern char **environ;

/* The engine beside this program, unless IDUNNO_ENGINE names another. */
static void engine_path(char *buf, size_t len)
{
	const char *env = getenv("IDUNNO_ENGINE");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n < 0 ? 0 : n] = '\0';
	snprintf(buf, len, "%s/engine", n < 0 ? "." : dirname(self));
}

/*
 * Runs `engine check --weights /dev/fd/FD` on the open file fd (so the
 * file checked is the file stored, even if its path changes meanwhile).
 * Returns 0 with the engine's line in out, or 1 with the reason printed.
 */
static int engine_check(const char *cmd, int fd, const char *local, char *out, size_t outlen)
{
	char engine[PATH_MAX], path[32], msg[2048] = "";
	char *argv[] = {engine, "check", "--weights", path, NULL};
	posix_spawn_file_actions_t fa;
	int o = memfd_create("engine-out", MFD_CLOEXEC),
	    e = memfd_create("engine-err", MFD_CLOEXEC);
	int ret, status = 0;
	pid_t pid;
	ssize_t n;

	engine_path(engine, sizeof(engine));
	snprintf(path, sizeof(path), "/dev/fd/%d", fd);
	if (o < 0 || e < 0) {
		fprintf(stderr, "agent %s: memfd: %s\n", cmd, strerror(errno));
		ret = 1;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, o, 1);
	posix_spawn_file_actions_adddup2(&fa, e, 2);
	ret = posix_spawn(&pid, engine, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret) {
		fprintf(stderr,
			"agent %s: cannot run %s: %s (IDUNNO_ENGINE names another engine)\n", cmd,
			engine, strerror(ret));
		ret = 1;
		goto out;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	n = pread(o, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	n = pread(e, msg, sizeof(msg) - 1, 0);
	msg[n > 0 ? n : 0] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ret = 0;
	} else {
		/* the engine's reason, naming the file as the user did */
		char *why = strncmp(msg, "engine check: ", 14) ? msg : msg + 14, *at;
		if (!strncmp(why, path, strlen(path)) && !strncmp(why + strlen(path), ": ", 2))
			why += strlen(path) + 2;
		at = strstr(why, "; give --model"); /* the engine's own option */
		if (at)
			snprintf(at, sizeof(msg) - (size_t)(at - msg),
				 "; engine weights and models/convert.py write it");
		at = strstr(why, path);
		fprintf(stderr, "agent %s: %s refused by engine check: ", cmd, local);
		if (at)
			fprintf(stderr, "%.*s%s%s\n", (int)(at - why), why, local,
				at + strlen(path));
		else if (*why)
			fprintf(stderr, "%s\n", why);
		else
			fprintf(stderr, "the engine %s %d\n",
				WIFSIGNALED(status) ? "died of signal" : "exited with",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		ret = 1;
	}
out:
	if (o >= 0)
		close(o);
	if (e >= 0)
		close(e);
	return ret;
}

static int model_put(struct cli *c, const char *name, const char *local)
{
	char sdfs_name[128], meta_name[128], line[256], arch[32], meta[256];
	unsigned long long tensors, bytes;
	uint64_t version = 0, meta_version = 0;
	struct stat st;
	int fd, mfd, ret;

	if (!cli_name_ok("model put", name))
		return 2;
	fd = open(local, O_RDONLY); /* no O_CLOEXEC: the engine reads it */
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "agent model put: %s: %s\n", local,
			fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	ret = engine_check("model put", fd, local, line, sizeof(line));
	if (!ret && (sscanf(line, "%31s %llu %llu", arch, &tensors, &bytes) != 3 ||
		     bytes != (unsigned long long)st.st_size)) {
		fprintf(stderr, "agent model put: engine check said '%s' of a %lld-byte file\n",
			line, (long long)st.st_size);
		ret = 1;
	}
	if (ret) {
		close(fd);
		return ret;
	}
	snprintf(sdfs_name, sizeof(sdfs_name), "models/%s.safetensors", name);
	ret = sdfs_put_fd(&c->cl, "model put", fd, bytes, sdfs_name, &version);
	close(fd);
	if (ret)
		return ret;
	/* the description names the version it describes: ls trusts no other */
	snprintf(meta, sizeof(meta), "%s %llu %s %llu %llu\n", MODEL_META_MAGIC,
		 (unsigned long long)version, arch, tensors, bytes);
	snprintf(meta_name, sizeof(meta_name), "models/%s.meta", name);
	mfd = cli_memfd("model put", meta, strlen(meta));
	ret = mfd < 0 ? 1
		      : sdfs_put_fd(&c->cl, "model put", mfd, strlen(meta), meta_name,
				    &meta_version);
	if (mfd >= 0)
		close(mfd);
	if (ret)
		fprintf(stderr,
			"agent model put: %s version %llu is stored, but not its description %s: "
			"model ls shows its architecture as unknown until the next put\n",
			sdfs_name, (unsigned long long)version, meta_name);
	if (c->json) {
		printf("{\"name\":");
		cli_json_str(name);
		printf(",\"arch\":\"%s\",\"tensors\":%llu,\"bytes\":%llu,\"file\":\"%s\","
		       "\"version\":%llu}\n",
		       arch, tensors, bytes, sdfs_name, (unsigned long long)version);
	} else {
		printf("model %s: %s, %llu tensors, %llu bytes, stored as %s version %llu\n", name,
		       arch, tensors, bytes, sdfs_name, (unsigned long long)version);
	}
	return ret;
}

/* Reads models/NAME.meta: the arch and tensors when it describes version. */
static int model_meta(struct client *cl, const char *name, uint64_t version, char *arch,
		      size_t alen, unsigned long long *tensors)
{
	char mname[128], a[32], magic[32];
	unsigned long long v, t, b;
	uint8_t *data;
	size_t len;
	uint64_t mv;
	int ok = 0;

	snprintf(mname, sizeof(mname), "models/%s.meta", name);
	if (sdfs_get_mem(cl, mname, 4096, &data, &len, &mv))
		return 0;
	data[len] = '\0';
	if (sscanf((char *)data, "%31s %llu %31s %llu %llu", magic, &v, a, &t, &b) == 5 &&
	    !strcmp(magic, MODEL_META_MAGIC) && v == version) {
		snprintf(arch, alen, "%s", a);
		*tensors = t;
		ok = 1;
	}
	free(data);
	return ok;
}

static int model_ls(struct cli *c)
{
	struct sdfs_entry *e;
	int n = sdfs_list(&c->cl, "models/", &e), shown = 0;
	const char *suffix = ".safetensors";

	if (n < 0)
		return 1;
	if (c->json)
		printf("[");
	else
		printf("%-32s %-18s %12s %-10s %s\n", "NAME", "VERSION", "BYTES", "ARCH",
		       "TENSORS");
	for (int i = 0; i < n; i++) {
		size_t nl = strlen(e[i].name) - strlen("models/");
		char name[STORE_NAME_MAX + 1], arch[32] = "?";
		unsigned long long tensors = 0;
		int known;
		if (nl <= strlen(suffix) ||
		    strcmp(e[i].name + strlen(e[i].name) - strlen(suffix), suffix))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(nl - strlen(suffix)),
			 e[i].name + strlen("models/"));
		known = model_meta(&c->cl, name, e[i].version, arch, sizeof(arch), &tensors);
		if (c->json) {
			printf("%s{\"name\":", shown ? "," : "");
			cli_json_str(name);
			printf(",\"version\":%llu,\"bytes\":%llu,\"arch\":",
			       (unsigned long long)e[i].version, (unsigned long long)e[i].size);
			if (known)
				printf("\"%s\",\"tensors\":%llu}", arch, tensors);
			else
				printf("null,\"tensors\":null}");
		} else {
			char tbuf[24] = "-";
			if (known)
				snprintf(tbuf, sizeof(tbuf), "%llu", tensors);
			printf("%-32s %-18llu %12llu %-10s %s\n", name,
			       (unsigned long long)e[i].version, (unsigned long long)e[i].size,
			       arch, tbuf);
		}
		shown++;
	}
	if (c->json)
		printf("]\n");
	free(e);
	return 0;
}

int cli_model(struct cli *c)
{
	if (!strcmp(c->arg[0], "put") && c->nargs == 3)
		return model_put(c, c->arg[1], c->arg[2]);
	if (!strcmp(c->arg[0], "ls") && c->nargs == 1)
		return model_ls(c);
	fprintf(stderr, "usage: agent model put NAME FILE | agent model ls [--json]\n");
	return 2;
}
