/*
 * prom.c - the Prometheus text format (prom.h).
 */
#include "core/prom.h"

#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 96

void prom_printf(struct prom_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap)
			break;
		b->cap = MAX(2 * b->cap, b->len + (size_t)n + 1024);
		b->p = xrealloc(b->p, b->cap);
	}
	b->len += (size_t)n;
}

void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help)
{
	prom_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_escape(const char *v, char *out, size_t cap)
{
	size_t k = 0;

	for (; *v && k + 3 < cap; v++) {
		if (*v == '\\' || *v == '"') {
			out[k++] = '\\';
			out[k++] = *v;
		} else if (*v == '\n') {
			out[k++] = '\\';
			out[k++] = 'n';
		} else {
			out[k++] = *v;
		}
	}
	if (cap)
		out[k < cap ? k : cap - 1] = '\0';
}

void prom_hist(struct prom_buf *b, const char *name, const char *labels, const struct hist *h)
{
	uint64_t below[HIST_LE_N];

	hist_le_counts(h, below);
	for (unsigned k = 0; k < HIST_LE_N; k++)
		prom_printf(b, "%s_bucket{%s,le=\"%.12g\"} %llu\n", name, labels,
			    (double)hist_le_bound(k) / 1e9, (unsigned long long)below[k]);
	prom_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels,
		    (unsigned long long)h->count);
	prom_printf(b, "%s_sum{%s} %.9f\n", name, labels, (double)h->sum / 1e9);
	prom_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
}

void prom_build_info(struct prom_buf *b, const char *program, const char *version,
		     const char *commit)
{
	char p[64], v[64], c[64];

	prom_escape(program, p, sizeof(p));
	prom_escape(version, v, sizeof(v));
	prom_escape(commit && commit[0] ? commit : "unknown", c, sizeof(c));
	prom_family(b, "idunno_build_info", "gauge",
		    "Always 1; the program's version and the commit it was built from.");
	prom_printf(b, "idunno_build_info{program=\"%s\",version=\"%s\",commit=\"%s\"} 1\n", p, v,
		    c);
}

/* ---- the stats lines ---- */

/*
 * The stats that are levels, not counts (a trailing '*': a prefix).
 * Everything else in the modules' stats only ever grows: a counter.
 */
static const char *const gauges[] = {
	"tcp_open",	      "tcp_open_*",
	"sdfs_client_active", "cache_files",
	"cache_bytes",	      "cache_busy",
	"coord_active",	      "coord_epoch",
	"worker_epoch",	      "worker_batches_*",
	"engine_inflight",    "engine_state",
	"sdfs_replicas_held", "sdfs_deletion_markers",
	"sdfs_free_bytes",    "self_incarnation",
};

static int is_gauge(const char *name)
{
	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
		size_t n = strlen(gauges[i]);
		if (gauges[i][n - 1] == '*' ? !strncmp(name, gauges[i], n - 1)
					    : !strcmp(name, gauges[i]))
			return 1;
	}
	return 0;
}

static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static int number_ok(const char *s, size_t n)
{
	size_t i = s[0] == '-';

	if (i == n)
		return 0;
	for (; i < n; i++)
		if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '.')
			return 0;
	return 1;
}

/* Whether name was written before (the names so far, '\n'-separated). */
static int seen(struct prom_buf *names, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = names->p; p && p < names->p + names->len;) {
		const char *e = memchr(p, '\n', (size_t)(names->p + names->len - p));
		if ((size_t)(e - p) == n && !memcmp(p, name, n))
			return 1;
		p = e + 1;
	}
	prom_printf(names, "%s\n", name);
	return 0;
}

int prom_stats(struct prom_buf *b, const char *stats)
{
	struct prom_buf names = {0};
	int count = 0;

	for (const char *line = stats; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *sp = memchr(line, ' ', len);
		char name[NAME_MAX_LEN + 1], value[64], full[NAME_MAX_LEN + 16], esc[128];
		size_t nlen = sp ? (size_t)(sp - line) : 0, vlen = sp ? len - nlen - 1 : 0;

		if (sp && name_ok(line, nlen) && vlen > 0 && vlen < sizeof(value) &&
		    !memchr(sp + 1, ' ', vlen)) {
			memcpy(name, line, nlen);
			name[nlen] = '\0';
			memcpy(value, sp + 1, vlen);
			value[vlen] = '\0';
			if (!number_ok(value, vlen)) {
				snprintf(full, sizeof(full), "idunno_%s", name);
				if (!seen(&names, full)) {
					prom_escape(value, esc, sizeof(esc));
					prom_printf(b,
						    "# HELP %s The agent's %s (agent stats), as a "
						    "label.\n# TYPE %s gauge\n",
						    full, name, full);
					prom_printf(b, "%s{state=\"%s\"} 1\n", full, esc);
					count++;
				}
			} else if (is_gauge(name)) {
				snprintf(full, sizeof(full), "idunno_%s", name);
				if (!seen(&names, full)) {
					prom_printf(b,
						    "# HELP %s The agent's level %s (agent "
						    "stats).\n# TYPE %s gauge\n",
						    full, name, full);
					prom_printf(b, "%s %s\n", full, value);
					count++;
				}
			} else if (value[0] != '-') {
				snprintf(full, sizeof(full), "idunno_%s_total", name);
				if (!seen(&names, full)) {
					prom_printf(b,
						    "# HELP %s The agent's count %s (agent "
						    "stats).\n# TYPE %s counter\n",
						    full, name, full);
					prom_printf(b, "%s %s\n", full, value);
					count++;
				}
			}
		}
		line += len + (end != NULL);
	}
	free(names.p);
	return count;
}
