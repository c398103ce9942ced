/* The client configuration reference, generated from the one property
 * table: `evpipe conf-doc` prints it and docs/CONFIGURATION.md is its
 * output (tests/test_conf.c keeps the two equal). */
#ifndef EVP_CLIENT_CONF_DOC_H
#define EVP_CLIENT_CONF_DOC_H

/* Markdown reference of every property (caller frees). NULL on ENOMEM. */
char *evp__conf_doc_markdown(void);

#endif /* EVP_CLIENT_CONF_DOC_H */
