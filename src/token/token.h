/* What the rest of libevpipe may know of the token area beyond the public
 * evpipe/jwt.h: its limits, for the files that feed it keys. */
#ifndef EVP_TOKEN_TOKEN_H
#define EVP_TOKEN_TOKEN_H

/* Keys a keyring holds: current + previous in practice; a few spare. */
#define EVP__KEYRING_MAX 16

#endif /* EVP_TOKEN_TOKEN_H */
