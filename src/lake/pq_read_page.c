/* Parquet reader, rows: row group by row group, each column chunk is read
 * whole (compressed) and decoded page by page into a column cursor; a row is
 * one value from each cursor. Page decoding is one switch on the page's codec and one on its
 * encoding (decode_values): an encoding this reader does not know fails
 * with the file, column and encoding named, and a new decoder is one case
 * there. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "lake/pq_decode.h"
#include "lake/pq_encode.h"
#include "lake/pq_format.h"
#include "lake/pq_reader_int.h"
#include "lake/thrift_read.h"

/* ------------------------------------------------------------ pages */

/* The RLE/bit-packed hybrid (no length prefix): exactly @p n values of
 * @p bw bits from p[0..len) into out. -1 when the input runs out or a run
 * is malformed. */
static int rle_decode(const uint8_t *p, size_t len, int bw, uint32_t *out, size_t n) {
  size_t pos = 0, got = 0;
  size_t vbytes = ((size_t)bw + 7) / 8;
  while (got < n) {
    uint64_t h = 0;
    int shift = 0;
    for (;;) {
      if (pos >= len || shift > 63) return -1;
      uint8_t b = p[pos++];
      h |= (uint64_t)(b & 0x7F) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    if (h & 1) { /* bit-packed: (h >> 1) groups of 8 values */
      uint64_t groups = h >> 1;
      if (groups == 0 || groups > (len - pos) / (bw ? (size_t)bw : 1) + 1) return -1;
      uint64_t nv = groups * 8;
      size_t nbytes = (size_t)groups * (size_t)bw;
      if (nbytes > len - pos) {
        /* the last group may be cut short when only padding is missing */
        if (got + nv < n) return -1;
      }
      uint64_t bitpos = 0;
      for (uint64_t k = 0; k < nv && got < n; k++) {
        uint32_t v = 0;
        for (int b = 0; b < bw; b++, bitpos++) {
          size_t at = pos + (size_t)(bitpos >> 3);
          if (at >= len) return -1;
          v |= (uint32_t)((p[at] >> (bitpos & 7)) & 1) << b;
        }
        out[got++] = v;
      }
      pos += nbytes < len - pos ? nbytes : len - pos;
    } else { /* RLE run */
      uint64_t run = h >> 1;
      if (vbytes > len - pos) return -1;
      uint32_t v = 0;
      for (size_t k = 0; k < vbytes; k++) v |= (uint32_t)p[pos + k] << (8 * k);
      pos += vbytes;
      if (bw < 32 && (v >> bw)) return -1;
      if (run == 0) return -1;
      for (uint64_t k = 0; k < run && got < n; k++) out[got++] = v;
    }
  }
  return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 64;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, nc * elem);
  if (!q) return -1;
  *p = q;
  *cap = nc;
  return 0;
}

/* PLAIN values of @p type: @p n of them from p[0..len) into out (strings
 * point into p). Returns -1 when the bytes do not hold n values. */
static int plain_decode(evp__pq_type_t type, const uint8_t *p, size_t len, evp__pq_value_t *out,
                        size_t n) {
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) {
    evp__pq_value_t *v = &out[i];
    v->is_null = 0;
    switch (type) {
    case EVP__PQ_INT64:
    case EVP__PQ_TIMESTAMP_US:
    case EVP__PQ_DOUBLE: {
      if (len - pos < 8) return -1;
      uint64_t u = 0;
      for (int k = 7; k >= 0; k--) u = u << 8 | p[pos + (size_t)k];
      pos += 8;
      if (type == EVP__PQ_DOUBLE)
        memcpy(&v->v.f64, &u, 8);
      else
        v->v.i64 = (int64_t)u;
      break;
    }
    case EVP__PQ_BOOLEAN:
      if ((i >> 3) >= len) return -1;
      v->v.b = (p[i >> 3] >> (i & 7)) & 1;
      break;
    case EVP__PQ_STRING: {
      if (len - pos < 4) return -1;
      uint32_t l = (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 | (uint32_t)p[pos + 2] << 16 |
                   (uint32_t)p[pos + 3] << 24;
      pos += 4;
      if (l > len - pos) return -1;
      v->v.s.ptr = (const char *)p + pos;
      v->v.s.len = l;
      pos += l;
      break;
    }
    case EVP__PQ_GROUP: return -1; /* groups have no values */
    }
  }
  return 0;
}

typedef struct {
  int type, uncompressed, compressed;
  int num_values, encoding, def_encoding;
  int has_data, has_dict;
} page_hdr_t;

static void sub_header(evp__tr_t *t, page_hdr_t *h, int dict) {
  int16_t id;
  uint8_t ty;
  evp__tr_struct_begin(t);
  while (evp__tr_field(t, &id, &ty)) {
    if (id == PQ_DPH_NUM_VALUES)
      h->num_values = (int)evp__tr_int(t, ty);
    else if (id == PQ_DPH_ENCODING)
      h->encoding = (int)evp__tr_int(t, ty);
    else if (!dict && id == PQ_DPH_DEF_ENCODING)
      h->def_encoding = (int)evp__tr_int(t, ty);
    else
      evp__tr_skip(t, ty);
  }
}

static int page_header(const uint8_t *p, size_t len, page_hdr_t *h, size_t *used,
                       const char **why) {
  evp__tr_t t;
  int16_t id;
  uint8_t ty;
  memset(h, 0, sizeof *h);
  h->type = h->uncompressed = h->compressed = -1;
  h->def_encoding = PQ_ENC_RLE;
  evp__tr_init(&t, p, len);
  evp__tr_struct_begin(&t);
  while (evp__tr_field(&t, &id, &ty)) {
    switch (id) {
    case PQ_PH_TYPE: h->type = (int)evp__tr_int(&t, ty); break;
    case PQ_PH_UNCOMPRESSED_SIZE: h->uncompressed = (int)evp__tr_int(&t, ty); break;
    case PQ_PH_COMPRESSED_SIZE: h->compressed = (int)evp__tr_int(&t, ty); break;
    case PQ_PH_DATA_PAGE_HEADER:
      if (ty != EVP__TC_STRUCT) {
        evp__tr_skip(&t, ty);
        break;
      }
      h->has_data = 1;
      sub_header(&t, h, 0);
      break;
    case PQ_PH_DICTIONARY_PAGE_HEADER:
      if (ty != EVP__TC_STRUCT) {
        evp__tr_skip(&t, ty);
        break;
      }
      h->has_dict = 1;
      sub_header(&t, h, 1);
      break;
    default: evp__tr_skip(&t, ty);
    }
  }
  if (evp__tr_failed(&t)) {
    *why = t.err;
    return -1;
  }
  if (h->type < 0 || h->uncompressed < 0 || h->compressed < 0 || h->num_values < 0) {
    *why = "page header lacks its type, sizes or value count";
    return -1;
  }
  *used = t.pos;
  return 0;
}

static const char *codec_name(int codec) {
  switch (codec) {
  case 0: return "UNCOMPRESSED";
  case 1: return "SNAPPY";
  case 2: return "GZIP";
  case 3: return "LZO";
  case 4: return "BROTLI";
  case 5: return "LZ4";
  case 6: return "ZSTD";
  case 7: return "LZ4_RAW";
  }
  return "unknown";
}

static const char *encoding_name(int enc) {
  switch (enc) {
  case 0: return "PLAIN";
  case 2: return "PLAIN_DICTIONARY";
  case 3: return "RLE";
  case 4: return "BIT_PACKED";
  case 5: return "DELTA_BINARY_PACKED";
  case 6: return "DELTA_LENGTH_BYTE_ARRAY";
  case 7: return "DELTA_BYTE_ARRAY";
  case 8: return "RLE_DICTIONARY";
  case 9: return "BYTE_STREAM_SPLIT";
  }
  return "unknown";
}

/* The page body [body, body + h->compressed) uncompressed into *out. */
static evp_err_t decompress(evp__pq_reader_t *r, const evp__pq_column_t *col, int codec,
                            const uint8_t *body, const page_hdr_t *h, uint8_t **out, size_t *cap,
                            char *errstr, size_t errstr_size) {
  size_t ulen = (size_t)h->uncompressed;
  if (ulen > EVP__PQR_MAX_PAGE_BYTES)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': page of %zu bytes",
                        col->name, ulen);
  if (grow((void **)out, cap, ulen ? ulen : 1, 1))
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  evp__pq_codec_t which;
  switch (codec) {
  case PQ_CODEC_UNCOMPRESSED: which = EVP__PQ_UNCOMPRESSED; break;
  case PQ_CODEC_SNAPPY: which = EVP__PQ_SNAPPY; break;
  case PQ_CODEC_ZSTD: which = EVP__PQ_ZSTD; break;
  default:
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                        "column '%s': codec %s (%d) is not supported by this reader", col->name,
                        codec_name(codec), codec);
  }
  char why[160];
  if (evp__pq_decompress(which, body, (size_t)h->compressed, *out, ulen, why, sizeof why) != EVP_OK)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': damaged %s page (%s)",
                        col->name, codec_name(codec), why);
  return EVP_OK;
}

/* DELTA_BINARY_PACKED integers of a page: exactly @p nn of them. */
static evp_err_t delta_values(evp__pq_reader_t *r, const evp__pq_column_t *col, evp__pqr_col_t *c,
                              const uint8_t *p, size_t len, size_t nn, char *errstr,
                              size_t errstr_size) {
  char why[160];
  size_t count = 0, used = 0;
  if (grow((void **)&c->u64, &c->cap_u64, nn ? nn : 1, sizeof *c->u64))
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  if (evp__pq_delta_decode(p, len, c->u64, nn, &count, &used, why, sizeof why) != EVP_OK ||
      count != nn)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                        "column '%s': damaged DELTA_BINARY_PACKED page (%s)", col->name,
                        count != nn ? "value count differs from the levels" : why);
  for (size_t i = 0; i < nn; i++) {
    c->vals[i].is_null = 0;
    c->vals[i].v.i64 = (int64_t)c->u64[i];
  }
  return EVP_OK;
}

/* DELTA_LENGTH_BYTE_ARRAY (values point into the page) or DELTA_BYTE_ARRAY
 * (values rebuilt into c->sbytes) strings of a page: exactly @p nn. */
static evp_err_t delta_strings(evp__pq_reader_t *r, const evp__pq_column_t *col, evp__pqr_col_t *c,
                               int encoding, const uint8_t *p, size_t len, size_t nn, char *errstr,
                               size_t errstr_size) {
  char why[160];
  if (grow((void **)&c->soff, &c->cap_soff, nn ? nn : 1, sizeof *c->soff) ||
      grow((void **)&c->slen, &c->cap_slen, nn ? nn : 1, sizeof *c->slen))
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  const uint8_t *base = p;
  evp_err_t e;
  if (encoding == PQ_ENC_DELTA_LENGTH_BYTE_ARRAY) {
    e = evp__pq_dlba_decode(p, len, nn, c->soff, c->slen, why, sizeof why);
  } else {
    c->sbytes.len = 0;
    e = evp__pq_dba_decode(p, len, nn, &c->sbytes, c->soff, c->slen, why, sizeof why);
    base = c->sbytes.p;
  }
  if (e == EVP_ERR_NOMEM)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  if (e != EVP_OK)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': damaged %s page (%s)",
                        col->name, encoding_name(encoding), why);
  for (size_t i = 0; i < nn; i++) {
    c->vals[i].is_null = 0;
    c->vals[i].v.s.ptr = (const char *)base + c->soff[i];
    c->vals[i].v.s.len = c->slen[i];
  }
  return EVP_OK;
}

/* The non-null values of a data page, p[0..len) after its levels, into
 * c->vals[0..nn). One case per encoding. */
static evp_err_t decode_values(evp__pq_reader_t *r, const evp__pq_column_t *col, evp__pqr_col_t *c,
                               int encoding, const uint8_t *p, size_t len, size_t nn, char *errstr,
                               size_t errstr_size) {
  if (grow((void **)&c->vals, &c->cap_vals, nn ? nn : 1, sizeof *c->vals))
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  switch (encoding) {
  case PQ_ENC_PLAIN:
    if (plain_decode(col->type, p, len, c->vals, nn))
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "column '%s': PLAIN page too short for its %zu values", col->name, nn);
    return EVP_OK;
  case PQ_ENC_PLAIN_DICTIONARY:
  case PQ_ENC_RLE_DICTIONARY: {
    if (!c->have_dict)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "column '%s': dictionary-encoded page without a dictionary", col->name);
    if (nn == 0) return EVP_OK;
    if (len < 1 || p[0] > 32)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': bad index bit width",
                          col->name);
    if (grow((void **)&c->idx, &c->cap_idx, nn, sizeof *c->idx))
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    if (rle_decode(p + 1, len - 1, p[0], c->idx, nn))
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "column '%s': damaged dictionary indices", col->name);
    for (size_t i = 0; i < nn; i++) {
      if (c->idx[i] >= c->ndict)
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                            "column '%s': dictionary index %u past its %zu entries", col->name,
                            c->idx[i], c->ndict);
      c->vals[i] = c->dict[c->idx[i]];
    }
    return EVP_OK;
  }
  case PQ_ENC_DELTA_BINARY_PACKED:
    if (col->type == EVP__PQ_INT64 || col->type == EVP__PQ_TIMESTAMP_US)
      return delta_values(r, col, c, p, len, nn, errstr, errstr_size);
    break;
  case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
  case PQ_ENC_DELTA_BYTE_ARRAY:
    if (col->type == EVP__PQ_STRING)
      return delta_strings(r, col, c, encoding, p, len, nn, errstr, errstr_size);
    break;
  default: break;
  }
  return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                      "column '%s': encoding %s (%d) is not supported by this reader", col->name,
                      encoding_name(encoding), encoding);
}

/* Read pages of column @p i until a data page is loaded. */
static evp_err_t next_page(evp__pq_reader_t *r, size_t i, char *errstr, size_t errstr_size) {
  evp__pqr_col_t *c = &r->cur[i];
  const evp__pq_column_t *col = &r->cols[i];
  evp_err_t e;
  if (c->val_i != c->nvals)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': more values than levels",
                        col->name);
  for (;;) {
    if (c->values_left <= 0 || c->pos >= (size_t)c->ch->len)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "column '%s': the chunk ends before its row group's rows", col->name);
    page_hdr_t h;
    size_t used;
    const char *why = NULL;
    if (page_header(c->buf + c->pos, (size_t)c->ch->len - c->pos, &h, &used, &why))
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "column '%s': damaged page header (%s)", col->name, why);
    c->pos += used;
    if ((size_t)h.compressed > (size_t)c->ch->len - c->pos)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "column '%s': page runs past its chunk", col->name);
    const uint8_t *body = c->buf + c->pos;
    c->pos += (size_t)h.compressed;
    if (h.type == PQ_PAGE_INDEX) continue;
    if (h.type == PQ_PAGE_DICTIONARY) {
      if (!h.has_dict || c->have_dict)
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                            "column '%s': unexpected dictionary page", col->name);
      if (h.encoding != PQ_ENC_PLAIN && h.encoding != PQ_ENC_PLAIN_DICTIONARY)
        return evp__pq_rerr(
            r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
            "column '%s': dictionary encoding %s (%d) is not supported by this reader", col->name,
            encoding_name(h.encoding), h.encoding);
      size_t cap = 0;
      if ((e = decompress(r, col, c->ch->codec, body, &h, &c->dbuf, &cap, errstr, errstr_size)))
        return e;
      size_t nd = (size_t)h.num_values, max_nd = EVP__PQR_MAX_DECODED_VALUES / r->ncols;
      if (max_nd < EVP__PQR_MIN_DICT_ENTRIES) max_nd = EVP__PQR_MIN_DICT_ENTRIES;
      if (max_nd > EVP__PQR_MAX_PAGE_VALUES) max_nd = EVP__PQR_MAX_PAGE_VALUES;
      /* every entry takes at least one bit (booleans), most at least 4 bytes */
      if (nd > (size_t)h.uncompressed * 8 || nd > max_nd)
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                            "column '%s': dictionary of %zu entries in %d bytes (at most %zu with "
                            "%zu columns)",
                            col->name, nd, h.uncompressed, max_nd, r->ncols);
      if (grow((void **)&c->dict, &c->capdict, nd ? nd : 1, sizeof *c->dict))
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
      if (plain_decode(col->type, c->dbuf, (size_t)h.uncompressed, c->dict, nd))
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                            "column '%s': damaged dictionary page", col->name);
      c->ndict = nd;
      c->have_dict = 1;
      continue;
    }
    if (h.type != PQ_PAGE_DATA)
      return evp__pq_rerr(
          r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
          "column '%s': page type %d is not supported by this reader (data page v1 only)",
          col->name, h.type);
    size_t max_values = EVP__PQR_MAX_DECODED_VALUES / r->ncols;
    if (max_values < EVP__PQR_MIN_PAGE_VALUES) max_values = EVP__PQR_MIN_PAGE_VALUES;
    if (max_values > EVP__PQR_MAX_PAGE_VALUES) max_values = EVP__PQR_MAX_PAGE_VALUES;
    if (!h.has_data || h.num_values == 0 || (int64_t)h.num_values > c->values_left ||
        (size_t)h.num_values > max_values)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "column '%s': data page of %d values (at most %zu with %zu columns)",
                          col->name, h.num_values, max_values, r->ncols);
    if ((e = decompress(r, col, c->ch->codec, body, &h, &c->pbuf, &c->cap_pbuf, errstr,
                        errstr_size)))
      return e;
    size_t rows = (size_t)h.num_values, nn = rows;
    const uint8_t *p = c->pbuf;
    size_t len = (size_t)h.uncompressed;
    if (c->max_def) {
      if (h.def_encoding != PQ_ENC_RLE)
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                            "column '%s': definition level encoding %s (%d) is not supported",
                            col->name, encoding_name(h.def_encoding), h.def_encoding);
      if (len < 4)
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                            "column '%s': page lacks its levels", col->name);
      uint32_t dl =
          (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
      if (dl > len - 4)
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': levels past the page",
                            col->name);
      if (grow((void **)&c->defs, &c->cap_defs, rows, sizeof *c->defs))
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
      /* levels 0..max_def at the width of max_def: 1 bit for a flat
       * optional column; a value is present at max_def */
      uint32_t md = (uint32_t)c->max_def;
      if (rle_decode(p + 4, dl, evp__pq_bit_width(md), c->defs, rows))
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                            "column '%s': damaged definition levels", col->name);
      nn = 0;
      for (size_t k = 0; k < rows; k++) {
        if (c->defs[k] > md)
          return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                              "column '%s': definition level %u above its %u", col->name,
                              c->defs[k], md);
        nn += c->defs[k] == md;
      }
      p += 4 + dl;
      len -= 4 + (size_t)dl;
    }
    if ((e = decode_values(r, col, c, h.encoding, p, len, nn, errstr, errstr_size))) return e;
    c->page_rows = rows;
    c->row_i = 0;
    c->nvals = nn;
    c->val_i = 0;
    c->values_left -= h.num_values;
    return EVP_OK;
  }
}

static evp_err_t load_row_group(evp__pq_reader_t *r, char *errstr, size_t errstr_size) {
  const evp__pqr_rgroup_t *g = &r->rgs[r->rg_i++];
  for (size_t i = 0; i < r->ncols; i++) {
    evp__pqr_col_t *c = &r->cur[i];
    c->ch = &g->cols[i];
    size_t len = (size_t)c->ch->len;
    uint8_t *b = realloc(c->buf, len);
    if (!b) return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    c->buf = b;
    if (evp__pq_pread_all(r->fd, c->buf, len, (uint64_t)c->ch->start))
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "read: %s", strerror(errno));
    c->pos = 0;
    c->values_left = c->ch->num_values;
    c->have_dict = 0;
    c->ndict = 0;
    c->page_rows = c->row_i = 0;
    c->nvals = c->val_i = 0;
  }
  r->rg_rows_left = g->num_rows;
  return EVP_OK;
}

evp_err_t evp__pq_reader_next(evp__pq_reader_t *r, const evp__pq_value_t **row, char *errstr,
                              size_t errstr_size) {
  if (!r || !row)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet reader: NULL argument");
  *row = NULL;
  if (r->failed)
    return evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "parquet reader: %s: failed earlier",
                       r->path);
  evp_err_t e;
  while (r->rg_rows_left == 0) {
    if (r->rg_i > 0)
      for (size_t i = 0; i < r->ncols; i++) {
        const evp__pqr_col_t *c = &r->cur[i];
        if (c->row_i != c->page_rows || c->val_i != c->nvals || c->values_left != 0)
          return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                              "column '%s' holds more values than its row group's rows",
                              r->cols[i].name);
      }
    if (r->rg_i == r->nrgs) return EVP_OK;
    if ((e = load_row_group(r, errstr, errstr_size))) return e;
  }
  if (r->ngroups) memset(r->state, -1, r->nnodes);
  for (size_t i = 0; i < r->ncols; i++) {
    evp__pqr_col_t *c = &r->cur[i];
    if (c->row_i == c->page_rows && (e = next_page(r, i, errstr, errstr_size))) return e;
    uint32_t d = c->max_def ? c->defs[c->row_i] : 0;
    c->row_i++;
    evp__pq_value_t *out = &r->row[c->node];
    /* The groups above the leaf: each is present when the level reaches
     * its own; every leaf of a group must say the same. */
    for (int32_t g = r->parent[c->node]; g >= 0; g = r->parent[g]) {
      int8_t present = d >= r->node_def[g];
      if (r->state[g] < 0)
        r->state[g] = present;
      else if (r->state[g] != present)
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                            "column '%s': damaged definition levels (its group '%s' is %s, "
                            "another column says it is not)",
                            r->cols[i].name, r->nodes[g].name, present ? "present" : "null");
    }
    if (d != (uint32_t)c->max_def) {
      memset(out, 0, sizeof *out);
      out->is_null = 1;
      continue;
    }
    if (c->val_i >= c->nvals)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "column '%s': fewer values than levels", r->cols[i].name);
    *out = c->vals[c->val_i++];
  }
  for (size_t g = 0; r->ngroups && g < r->nnodes; g++)
    if (r->nodes[g].type == EVP__PQ_GROUP) {
      memset(&r->row[g], 0, sizeof r->row[g]);
      r->row[g].is_null = r->state[g] != 1;
    }
  r->rg_rows_left--;
  *row = r->row;
  return EVP_OK;
}
