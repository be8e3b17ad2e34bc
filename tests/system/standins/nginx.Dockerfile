# A stand-in for nginx:stable, from Debian's nginx, for tests/system/test_docker.py: no image registry is
# reachable here. Like the official image, it runs `nginx -g 'daemon off;'` with /etc/nginx/nginx.conf,
# which compose.yaml replaces with deploy/nginx.compose.conf.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get -o Acquire::Check-Valid-Until=false update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /var/cache/nginx
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
