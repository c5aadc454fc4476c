# JupyterHub settings for a class taking the vae-teach course.
#
# The Littlest JupyterHub: copy this file to /opt/tljh/config/jupyterhub_config.d/vae_teach.py
# and run `sudo tljh-config reload`.  Any other JupyterHub: append it to jupyterhub_config.py
# (or load it from there).  Numbers: deploy/README.md, "Per-user resources".
c = get_config()  # noqa: F821

# The teacher's read-only model cache first, then the student's own folder (PATH-like list).
# Fill it once: sudo /opt/tljh/user/bin/python -m vae_teach.cache fill /srv/vae-cache
#               sudo chmod -R a+rX,a-w /srv/vae-cache
c.Spawner.environment.update({
    "VAE_TEACH_CACHE": "/srv/vae-cache:~/.cache/vae_teach",
    # idle PyTorch threads sleep instead of spinning: many kernels share few cores
    "OMP_WAIT_POLICY": "PASSIVE",
})

# Open JupyterLab (the widgets need ipywidgets 8 in the user environment).
c.Spawner.default_url = "/lab"

# Per-user limits: one kernel peaks below 0.7 GB; JupyterLab keeps kernels of earlier chapters
# running, so allow three at once.  Enforced by container spawners and by TLJH's systemd spawner.
c.Spawner.mem_limit = "2G"
c.Spawner.mem_guarantee = "1G"
c.Spawner.cpu_limit = 2
c.Spawner.cpu_guarantee = 0.5

# Kernels left open hold memory: stop servers idle for an hour (TLJH enables its idle culler by
# default with this timeout: `sudo tljh-config set services.cull.timeout 3600`).
