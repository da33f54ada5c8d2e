/*
 * sdfs_cli.c - SDFS subcommands (see sdfs_cli.h): what they share for
 * talking to members (calls, streams, who holds what), and delete,
 * holders and store.  Put is in sdfs_put.c, the gets in sdfs_get.c, ls in
 * sdfs_list.c.
 */
#include "cli/cli.h"
#include "cli/sdfs_cli.h"
#include "cli/sdfs_cli_int.h"
#include "sdfs/place.h"
#include "sdfs/sdfs_wire.h"
#include "sdfs/store.h"
#include "util.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sdfs_cli_check_name(const char *cmd, const char *name)
{
	char err[200];

	if (store_name_check(name, err, sizeof(err))) {
		fprintf(stderr, "agent %s: bad name: %s\n", cmd, err);
		return -1;
	}
	return 0;
}

static int send_sdfs(struct client *cl, int fd, struct wire_addr to, const struct sdfs_req *r)
{
	uint8_t p[SDFS_REQ_MAX];
	int n = sdfs_req_encode(r, p, sizeof(p));

	return n < 0 ? n : client_send_request(cl, fd, to, p, (size_t)n);
}

int sdfs_cli_call(struct client *cl, struct wire_addr to, const struct sdfs_req *r, uint8_t **body,
		  size_t *len, char *err, size_t errlen)
{
	uint8_t p[SDFS_REQ_MAX];
	int n = sdfs_req_encode(r, p, sizeof(p));

	return n < 0 ? n : client_call(cl, to, p, (size_t)n, body, len, err, errlen);
}

/*
 * Opens a stream: connects to `to`, sends r (for name, with a fresh stream
 * id) and reads the first answer into *body.  Returns the socket, or
 * -errno with err filled.
 */
int sdfs_cli_stream(struct client *cl, struct wire_addr to, struct sdfs_req *r, const char *name,
		    uint8_t **body, size_t *len, char *err, size_t errlen)
{
	int fd = client_connect(cl, to, err, errlen), ret;

	if (fd < 0)
		return fd;
	snprintf(r->name, sizeof(r->name), "%s", name);
	randombytes_buf(r->sid, sizeof(r->sid));
	ret = send_sdfs(cl, fd, to, r);
	if (!ret)
		ret = client_recv_response(cl, fd, body, len);
	if (ret) {
		char who[32];
		wire_addr_str(to, who, sizeof(who));
		util_seterr(err, errlen, "%s: %s", who,
			    ret == -EBUSY ? "the agent is busy (no connection free); try again"
					  : strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}

/* The versions every live member holds. Returns how many members, or -1. */
int sdfs_cli_gather(struct client *cl, const char *name, struct holding **out)
{
	struct wire_addr *live;
	int n = client_live(cl, &live);

	if (n < 0)
		return -1;
	*out = xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++) {
		struct sdfs_req r = {.cmd = SDFS_STAT};
		struct holding *h = &(*out)[i];
		uint8_t *body;
		size_t len;
		char err[256];
		h->who = live[i];
		snprintf(r.name, sizeof(r.name), "%s", name);
		if (sdfs_cli_call(cl, live[i], &r, &body, &len, err, sizeof(err))) {
			fprintf(stderr, "agent: %s (skipped)\n", err);
			continue;
		}
		h->ok = body[0] == 0 && sdfs_stat_decode(body, len, &h->st) == 0;
		if (!h->ok)
			h->st.n = 0;
		free(body);
	}
	free(live);
	/* a member that missed a delete may still hold deleted versions (until
	 * its next repair round): they are not the file any more */
	{
		uint64_t deleted = 0;
		for (int i = 0; i < n; i++)
			if ((*out)[i].ok)
				deleted = MAX(deleted, (*out)[i].st.deleted);
		for (int i = 0; i < n; i++) {
			struct sdfs_stat *st = &(*out)[i].st;
			int k = 0;
			for (int j = 0; j < st->n; j++)
				if (st->v[j] > deleted)
					st->v[k++] = st->v[j];
			st->n = k;
		}
	}
	return n;
}

void sdfs_cli_status(const char *cmd, const char *what, const uint8_t *body, size_t len)
{
	const char *text;
	size_t tlen;
	int status;

	sdfs_status_decode(body, len, &status, &text, &tlen);
	fprintf(stderr, "agent %s: %s: %s%s%.*s\n", cmd, what, strerror(status), tlen ? ": " : "",
		(int)tlen, text);
}

uint64_t sdfs_cli_newest(const struct holding *hs, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		if (hs[i].ok && hs[i].st.n)
			v = MAX(v, hs[i].st.v[0]);
	return v;
}

int sdfs_cli_find(struct client *cl, const char *cmd, const char *name, struct holding **hs, int *n,
		  uint64_t *v)
{
	if (sdfs_cli_check_name(cmd, name))
		return CLI_USAGE;
	*n = sdfs_cli_gather(cl, name, hs);
	if (*n < 0)
		return 1;
	*v = sdfs_cli_newest(*hs, *n);
	if (!*v) {
		fprintf(stderr, "agent %s: %s: no such file\n", cmd, name);
		free(*hs);
		return CLI_NOT_FOUND;
	}
	return 0;
}

/* ---- delete, holders, store ---- */

int cli_delete(struct cli *c)
{
	const char *name = c->arg[0];
	struct holding *hs;
	uint64_t upto;
	int n, had = 0, failed = 0, status;

	/* every version up to the newest one now: a put racing with this
	 * delete and ordered after it survives */
	status = sdfs_cli_find(&c->cl, "delete", name, &hs, &n, &upto);
	if (status)
		return status;
	for (int i = 0; i < n; i++) {
		struct sdfs_req r = {.cmd = SDFS_DELETE, .version = upto};
		uint8_t *body;
		size_t len;
		char err[256];
		snprintf(r.name, sizeof(r.name), "%s", name);
		if (sdfs_cli_call(&c->cl, hs[i].who, &r, &body, &len, err, sizeof(err))) {
			fprintf(stderr, "agent delete: %s\n", err);
			failed++;
			continue;
		}
		{
			uint32_t removed;
			had += sdfs_delete_ans_decode(body, len, &removed) == 0 && removed > 0;
		}
		free(body);
	}
	free(hs);
	if (c->json) {
		printf("{\"name\":");
		cli_json_str(name);
		printf(",\"upto\":%llu,\"members\":%d,\"unreachable\":%d}\n",
		       (unsigned long long)upto, had, failed);
	} else {
		printf("deleted %s (versions up to %llu) from %d member%s%s\n", name,
		       (unsigned long long)upto, had, had == 1 ? "" : "s",
		       failed ? "; some were unreachable: they drop it when they next hear of it"
			      : "");
	}
	return CLI_OK;
}

int cli_holders(struct cli *c)
{
	const char *name = c->arg[0];
	struct holding *hs;
	struct wire_addr *all, *order;
	int n, k = 0;

	if (sdfs_cli_check_name("holders", name))
		return CLI_USAGE;
	n = sdfs_cli_gather(&c->cl, name, &hs);
	if (n < 0)
		return CLI_FAILED;
	all = xcalloc((size_t)n + 1, sizeof(*all));
	order = xcalloc((size_t)n + 1, sizeof(*order));
	for (int i = 0; i < n; i++)
		if (hs[i].ok && hs[i].st.n)
			all[k++] = hs[i].who;
	/* in the file's rank order: the order a get tries them in */
	k = place_replicas(name, all, k, k, order);
	if (c->json && k)
		printf("[");
	for (int j = 0; j < k; j++)
		for (int i = 0; i < n; i++)
			if (wire_addr_eq(hs[i].who, order[j])) {
				char who[32];
				wire_addr_str(hs[i].who, who, sizeof(who));
				if (c->json)
					printf("%s{\"addr\":\"%s\",\"versions\":%d,\"newest\":%"
					       "llu}",
					       j ? "," : "", who, hs[i].st.n,
					       (unsigned long long)hs[i].st.v[0]);
				else
					printf("%-22s %d version%s, newest %llu\n", who, hs[i].st.n,
					       hs[i].st.n == 1 ? "" : "s",
					       (unsigned long long)hs[i].st.v[0]);
			}
	if (c->json && k)
		printf("]\n");
	if (!k)
		fprintf(stderr, "agent holders: %s: no such file\n", name);
	free(all);
	free(order);
	free(hs);
	return k ? CLI_OK : CLI_NOT_FOUND;
}

struct store_print {
	int json, n;
};

static int print_entry(void *arg, const char *name, uint64_t version, uint64_t size)
{
	struct store_print *p = arg;

	if (size == SDFS_TOMB_SIZE) /* deletion markers are not files */
		return 0;
	if (p->json) {
		printf("%s{\"name\":", p->n++ ? "," : "");
		cli_json_str(name);
		printf(",\"version\":%llu,\"bytes\":%llu}", (unsigned long long)version,
		       (unsigned long long)size);
	} else {
		printf("%s version %llu %llu bytes\n", name, (unsigned long long)version,
		       (unsigned long long)size);
	}
	return 0;
}

int cli_store(struct cli *c)
{
	struct sdfs_req r = {.cmd = SDFS_LIST};
	struct store_print p = {.json = c->json};
	uint8_t *body;
	size_t len;
	char err[256];
	int ret;

	if (sdfs_cli_call(&c->cl, c->cl.agent, &r, &body, &len, err, sizeof(err))) {
		fprintf(stderr, "agent store: %s\n", err);
		return CLI_FAILED;
	}
	if (body[0]) {
		sdfs_cli_status("store", "listing", body, len);
		free(body);
		return CLI_FAILED;
	}
	if (c->json)
		printf("[");
	ret = sdfs_list_decode(body, len, print_entry, &p);
	if (c->json)
		printf("]\n");
	free(body);
	return ret ? CLI_FAILED : CLI_OK;
}
